"""The house plan's rooms: video, the HTTP service and the Ray layer each use the layers below
them and are used by none of them (DESIGN.md). Read from the source: each import of a room from
outside it must come from a room above it."""

from __future__ import annotations

import ast
from pathlib import Path

import faceindex

PACKAGE = Path(faceindex.__file__).parent
# A room, and the modules (prefixes) allowed to import it from outside: the CLI and the rooms above.
ROOMS = {
    "faceindex.video": ("faceindex.cli", "faceindex.service", "faceindex.distributed"),
    "faceindex.distributed": ("faceindex.cli", "faceindex.service"),
    "faceindex.service": ("faceindex.cli",),
}


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


def _in(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".") or (
        prefix == "faceindex.cli" and module.startswith("faceindex.cli_"))


def test_each_room_is_used_only_by_the_rooms_above_it() -> None:
    modules = {".".join(p.relative_to(PACKAGE.parent).with_suffix("").parts): p for p in PACKAGE.rglob("*.py")}
    assert "faceindex.video.analysis" in modules and "faceindex.backends.calibration_media" in modules
    wrong = sorted(
        f"{module} imports {name}"
        for module, path in modules.items() for name in _imports(path) for room, allowed in ROOMS.items()
        if _in(name, room) and not _in(module, room) and not any(_in(module, a) for a in allowed))
    assert wrong == []
