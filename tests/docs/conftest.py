"""The documentation's examples: a closing line that counts them (run, failed, skipped and why)."""

from __future__ import annotations

from typing import Any

import pytest


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    counts = {"passed": 0, "failed": 0, "skipped": 0}
    for outcome in counts:
        for report in terminalreporter.stats.get(outcome, []):
            if "test_doc_examples.py::test_example[" in getattr(report, "nodeid", "") and report.when in (
                    "call", "setup"):
                counts[outcome] += 1
    if any(counts.values()):
        terminalreporter.write_line(
            f"documentation examples: {counts['passed'] + counts['failed']} run ({counts['passed']} as shown, "
            f"{counts['failed']} not), {counts['skipped']} skipped (their reasons: pytest -ra)")
