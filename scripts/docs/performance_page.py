"""The performance page, generated from what the benchmarks recorded: every figure on it is read
from bench/results/*.json (`make bench` writes them; bench/compare_builds.py and ab_builds.py
write the before/after files), bench/results/experiments.json (measurements of designs that
were tried and not kept) and the precision verification records in models/calibration/.
The prose pages link here instead of repeating a figure.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path
from typing import Any

INTRO = """# Performance

Generated at build time from the benchmarks' own records: `bench/results/*.json` (`make bench`
runs each suite with its peers side by side in one process and writes the medians, the ratios
and the machine), `bench/results/experiments.json` (designs measured and not kept) and the
precision verification records in `models/calibration/`. Timings taken on a shared 2-core
machine move from run to run; the ratios, measured side by side in one run, are what to compare.
`make bench BENCH=bench/bench_flat_index.py` runs one suite.
"""


def page(repo: Path) -> str:
    results = repo / "bench" / "results"
    parts = [INTRO]
    suites = sorted(results.glob("bench_*.json"))
    if not suites:
        raise SystemExit(f"no benchmark results in {results}")
    parts.append("## Contents\n")
    for path in suites:
        parts.append(f"- [{path.stem}](#{path.stem}): {summary(repo, path.stem)}")
    parts.append("- [Before and after a change](#before-and-after)")
    parts.append("- [Precision verification records](#precision-records)")
    parts.append("- [Designs measured and not kept](#experiments)\n")
    for path in suites:
        parts.append(suite_section(repo, path))
    parts.append("## Before and after a change {#before-and-after}\n")
    for path in sorted(p for p in results.glob("*.json") if not p.name.startswith(("bench_", "experiments"))):
        parts.append(before_after_section(path))
    parts.append(precision_section(repo))
    parts.append(experiments_section(results / "experiments.json"))
    return "\n".join(parts)


def summary(repo: Path, suite: str) -> str:
    """The first line of the suite's docstring: what it measures."""
    doc = docstring(repo / "bench" / f"{suite}.py")
    return " ".join(doc.split("\n\n", 1)[0].split()) if doc else "(no bench module)"


def docstring(path: Path) -> str:
    if not path.exists():
        return ""
    return ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""


def suite_section(repo: Path, path: Path) -> str:
    data = json.loads(path.read_text(encoding="utf-8"))
    lines = [f"## {path.stem} {{#{path.stem}}}", ""]
    doc = docstring(repo / "bench" / f"{path.stem}.py")
    if doc:
        lines += [doc.split("\n\n", 1)[0].replace("\n", " "), ""]
    machine = data.get("machine", {})
    if machine:
        lines += [f"Measured {machine.get('when', 'at an unrecorded time')} on {machine.get('cpu', '?')}, "
                  f"{machine.get('cores', '?')} cores, Python {machine.get('python', '?')}, "
                  f"faceindex {machine.get('faceindex', '?')} (`bench/results/{path.name}`).", ""]
    ratios = data.get("ratios") or []
    if ratios:
        lines += ["| ratio | value | target | met |", "| --- | --- | --- | --- |"]
        for r in ratios:
            met = {True: "yes", False: "**no**", None: ""}[r.get("meets_target")]
            lines.append(f"| {cell(r['label'])} | {fmt(r['value'])}x | {cell(r.get('target') or '')} | {met} |")
        lines.append("")
    timings = data.get("timings") or {}
    if timings:
        lines += ["| timing | median | fastest | rounds |", "| --- | --- | --- | --- |"]
        for name, t in timings.items():
            lines.append(f"| {cell(name)} | {duration(t['median_s'])} | {duration(t['min_s'])} | {t['rounds']} |")
        lines.append("")
    records = data.get("records") or {}
    flat = {name: r for name, r in records.items() if not is_table(r)}
    if flat:
        lines += ["| record | values |", "| --- | --- |"]
        for name, record in flat.items():
            lines.append(f"| {cell(name)} | {cell('; '.join(f'{k}: {v}' for k, v in flatten(record)))} |")
        lines.append("")
    for name, record in records.items():
        if is_table(record):
            lines += [f"**{cell(name)}**", ""] + grid(record) + [""]
    return "\n".join(lines)


def is_table(record: Any) -> bool:
    """A record of rows: a dict whose every value is a dict (one row per key)."""
    return isinstance(record, dict) and len(record) > 1 and all(isinstance(v, dict) for v in record.values())


def grid(record: dict[str, dict[str, Any]]) -> list[str]:
    columns: list[str] = []
    for row in record.values():
        columns += [k for k, _ in flatten(row) if k not in columns]
    lines = ["| | " + " | ".join(cell(c) for c in columns) + " |", "| --- " * (len(columns) + 1) + "|"]
    for name, row in record.items():
        values = dict(flatten(row))
        lines.append(f"| {cell(name)} | " + " | ".join(cell(values.get(c, "")) for c in columns) + " |")
    return lines


def before_after_section(path: Path) -> str:
    data = json.loads(path.read_text(encoding="utf-8"))
    lines = [f"### {path.stem}", "", f"`bench/results/{path.name}`", ""]
    lines += (scale_table(data) if path.stem == "collection_scale" else table(data)) + [""]
    return "\n".join(lines)


def scale_table(runs: dict[str, Any]) -> list[str]:
    """bench/collection_scale.py's runs (make bench-scale): one row per size and cache, then each
    size's ratios with their targets."""
    lines = ["| faces x dim | cache | RSS after open | after 100 searches | open | search of 1 / 16 / 256 faces "
             "| re-scored per query (every face / at a match threshold) |", "| --- " * 7 + "|"]
    notes = []
    for size, run in runs.items():
        if "not_run" in run or "result" not in run:
            notes.append(f"- {size}: not run ({cell(run.get('not_run', 'failed'))})")
            continue
        result = run["result"]
        records, timings = result.get("records", {}), result.get("timings", {})
        for cache in run["caches"]:
            memory, opened = records.get(f"memory, {cache} cache", {}), records.get(f"open, {cache} cache", {})
            searches = [timings.get(f"search_q{b}_{cache}", {}).get("median_s") for b in (1, 16, 256)]
            shares = [v.get("per_query") for k, v in records.items()
                      if k.startswith(f"re-scored share, {cache} cache,") and k.endswith("batch 1")]
            lines.append(f"| {size} | {cache} | {memory.get('rss_after_open', 0) / 2**30:.2f} GiB "
                         f"| {memory.get('rss_after_searches', 0) / 2**30:.2f} GiB "
                         f"| {duration(opened['seconds_median']) if 'seconds_median' in opened else '-'} "
                         f"| {' / '.join(duration(t) if t else '-' for t in searches)} "
                         f"| {' / '.join(f'{v:.0f}' for v in shares) or '-'} |")
        machine = result.get("machine", {})
        notes.append(f"- {size}, measured {machine.get('when', '?')} on {machine.get('cpu', '?')}, "
                     f"{machine.get('cores', '?')} cores ({run['seconds'] / 60:.0f} min):")
        for r in result.get("ratios", []):
            met = {True: " (met)", False: " (**not met**)", None: ""}[r.get("meets_target")]
            notes.append(f"    - {cell(r['label'])}: {fmt(r['value'])}x {cell(r.get('target') or '')}{met}")
        for name, r in records.items():
            if isinstance(r, dict) and "value" in r:
                notes.append(f"    - {cell(name)}: {fmt(r['value'])}x {cell(r.get('target') or '')}")
    return lines + [""] + notes


def precision_section(repo: Path) -> str:
    lines = ["## Precision verification records {#precision-records}", "",
             "What `make verify-precision` measured for each reduced precision against ONNX Runtime f32 "
             "(the rule is on [Model packs, backends, precision](packs.md#the-verification-rule)); "
             "`precision=\"auto\"` takes only a candidate that passed.", ""]
    for path in sorted((repo / "models" / "calibration").glob("*.precision.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        pack = data["pack"]
        lines += [f"### {pack['name']} {pack['version']}", "", f"`models/calibration/{path.name}`", ""]
        if data.get("format", 1) != 2:
            lines += [f"Format {data.get('format', 1)}: an older rule's record, which `auto` does not read.", ""]
            continue
        f32 = data.get("lfw_f32")
        if f32:
            lines += [f"f32 on {f32['source']}: " + ", ".join(
                f"FNMR {v['value']:.4f} [{v['low']:.4f}, {v['high']:.4f}] at the FMR {k} threshold "
                f"{f32['thresholds'][k]:.4f}" for k, v in f32["fnmr"].items()) + f" ({f32['threshold_source']}).", ""]
        names = sorted({c for cand in data["candidates"] for c in cand.get("criteria", {})})
        lines.append("| backend, precision | date | machine | " + " | ".join(names) + " | verdict |")
        lines.append("| --- " * (len(names) + 4) + "|")
        for cand in data["candidates"]:
            machine = cell(cand.get("machine", {}).get("cpu", "") + (f"; int8 {cand['int8_kernels']}"
                                                                    if "int8_kernels" in cand else ""))
            if cand.get("measured") is False:
                lines.append(f"| {cand['backend']}, {cand['precision']} | {cand.get('date', '')[:10]} | {machine} | "
                             + " | ".join("" for _ in names) + f" | not measured: {cell(cand['why'])} |")
                continue
            cells = []
            for name in names:
                c = cand.get("criteria", {}).get(name)
                if c is None or c["value"] is None:
                    cells.append("not measured")
                else:
                    value = f"{c['value']:.6g}" if isinstance(c["value"], float) else fmt(c["value"])
                    cells.append(f"{value} ({cell(c['bound'])}{'' if c['passed'] else ', **fails**'})")
            verdict = "passed" if cand.get("passed") else "failed"
            lines.append(f"| {cand['backend']}, {cand['precision']} | {cand.get('date', '')[:10]} | {machine} | "
                         + " | ".join(cells) + f" | {verdict} |")
        lines.append("")
    return "\n".join(lines)


def experiments_section(path: Path) -> str:
    lines = ["## Designs measured and not kept {#experiments}", "",
             f"From `bench/results/{path.name}`: what was tried, measured, and why it was not built.", ""]
    for item in json.loads(path.read_text(encoding="utf-8"))["experiments"]:
        lines += [f"### {item['title']}", "", f"*{item['date']}; {item['conditions']}*", ""]
        lines += [f"- {m}" for m in item["measured"]]
        lines += ["", f"**Outcome**: {item['outcome']}", ""]
    return "\n".join(lines)


def table(record: Any) -> list[str]:
    """A record (nested dicts) as a two-column table, nested keys joined by ' / '."""
    rows = list(flatten(record))
    return ["| field | value |", "| --- | --- |"] + [f"| {cell(k)} | {cell(v)} |" for k, v in rows]


def flatten(value: Any, prefix: str = "") -> Any:
    if isinstance(value, dict):
        for k, v in value.items():
            yield from flatten(v, f"{prefix} / {k}" if prefix else str(k))
    else:
        yield prefix or "value", fmt(value)


def fmt(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.0f}" if abs(value) >= 10_000 else f"{value:.4g}"
    if isinstance(value, list):
        return ", ".join(fmt(v) for v in value) if all(not isinstance(v, (dict, list)) for v in value) \
            else json.dumps(value)
    if value is None:
        return "-"
    if isinstance(value, dict):
        return ", ".join(f"{k} {fmt(v)}" for k, v in value.items())
    return str(value)


def duration(seconds: float) -> str:
    return f"{seconds:.3g} s" if seconds >= 1 else f"{seconds * 1000:.3g} ms"


def cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")
