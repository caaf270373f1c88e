"""Print the requirements pyproject.toml declares, one per line, for `pip install -r`.

    python scripts/requirements.py test demo   # [project] dependencies + those extras
    python scripts/requirements.py --build     # [build-system] requires

The Makefile installs dependencies from this list with pip's build isolation on (as
pip does for a user), and only faceindex itself without it: an sdist among the
dependencies must build in its own environment, never with the venv's setuptools.
"""

from __future__ import annotations

import sys
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: the Makefile installs tomli first
    import tomli as tomllib

PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"


def requirements(args: list[str]) -> list[str]:
    config = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))
    if args == ["--build"]:
        return list(config["build-system"]["requires"])
    project = config["project"]
    extras = project.get("optional-dependencies", {})
    unknown = [name for name in args if name not in extras]
    if unknown:
        raise SystemExit(f"unknown extra(s) {unknown}; pyproject.toml has {sorted(extras)}")
    found = list(project["dependencies"])
    for name in args:
        found += [req for req in extras[name] if req not in found]
    return found


if __name__ == "__main__":
    print("\n".join(requirements(sys.argv[1:])))
