"""The `faceindex` command, one module per command group (collection, indexing, search, images,
faces, users, audit, evaluation, cohort, video, stream, serve, and the Ray options), the helpers they
share in common.py and results.py, and the parser and main() in run.py."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TextIO


def main(argv: Sequence[str] | None = None, stdout: TextIO | None = None, stderr: TextIO | None = None) -> int:
    """Run `faceindex` with these arguments (default: the process's); the exit code."""
    from faceindex.cli.run import main as run

    return run(argv, stdout, stderr)
