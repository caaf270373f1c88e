"""Make the installed tensorrt-stubs parse, so mypy can check our TensorRT backend.

Every published tensorrt-stubs release has a few signatures that are not
valid Python: parameters named `in`, and a parameter without a default after
ones with defaults. This rewrites just those `def` lines, in place.
"""

from __future__ import annotations

import ast
import re
import sys
import sysconfig
from pathlib import Path

DEF_LINE = re.compile(r"^(\s*)def (\w+)\((.*)\)( -> .*)?:\s*$")


def repair_signature(params: str) -> str:
    params = re.sub(r"(?<![\w.])in:", "in_:", params)
    out, seen_default, depth, current = [], False, 0, ""
    for ch in params + ",":
        if ch in "[(":
            depth += 1
        elif ch in "])":
            depth -= 1
        if ch == "," and depth == 0:
            part = current.strip()
            if part:
                has_default = "=" in part
                if seen_default and not has_default and not part.startswith("*"):
                    part += " = ..."
                seen_default = seen_default or has_default
                out.append(part)
            current = ""
        else:
            current += ch
    return ", ".join(out)


def repair(path: Path) -> int:
    lines = path.read_text().split("\n")
    fixed = 0
    for i, line in enumerate(lines):
        match = DEF_LINE.match(line)
        if not match:
            continue
        try:
            ast.parse(line.strip() + "\n    ...")
        except SyntaxError:
            indent, name, params, returns = match.groups()
            lines[i] = f"{indent}def {name}({repair_signature(params)}){returns or ''}:"
            fixed += 1
    path.write_text("\n".join(lines))
    ast.parse(path.read_text())  # fails loudly if anything is still broken
    return fixed


def main() -> None:
    site = Path(sysconfig.get_paths()["purelib"])
    stubs = [site / "tensorrt_bindings" / "tensorrt.pyi", site / "tensorrt_bindings" / "__init__.pyi", site / "tensorrt" / "__init__.pyi"]
    for stub in stubs:
        if stub.exists():
            print(f"{stub}: repaired {repair(stub)} signatures")
        else:
            sys.exit(f"{stub} not found: is tensorrt-stubs installed?")


if __name__ == "__main__":
    main()
