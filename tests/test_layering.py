"""The house plan's order of rooms (DESIGN.md, docs/ARCHITECTURE.md), read from the source: every
module of faceindex belongs to one room, a module imports only its own room and the rooms below it,
and no modules import each other in a cycle (at any depth, inside functions too)."""

from __future__ import annotations

import ast
from pathlib import Path

import faceindex

PACKAGE = Path(faceindex.__file__).parent

# The rooms, lowest first: each may import the rooms before it, never one after it. A room is a
# package or a module (prefix match). Keep docs/ARCHITECTURE.md's order the same.
ROOMS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("compiled core", ("faceindex._core",)),
    ("foundation", ("faceindex.errors", "faceindex.types", "faceindex.paths", "faceindex.cache",
                    "faceindex.media_files", "faceindex.progress", "faceindex.runtime")),
    ("search core", ("faceindex.flat_index",)),
    ("decoding", ("faceindex.images", "faceindex.video_source", "faceindex.video_sampling")),
    ("face arrays", ("faceindex.detections", "faceindex.quality")),
    ("thresholds", ("faceindex.thresholds",)),
    ("backends", ("faceindex.backends",)),
    ("packs", ("faceindex.packs",)),
    ("engine", ("faceindex.engine",)),
    ("collection", ("faceindex.collection",)),
    ("rekognition shapes", ("faceindex.rekognition_shapes",)),
    ("evaluation", ("faceindex.evaluation",)),
    ("video", ("faceindex.video",)),
    ("distributed", ("faceindex.distributed",)),
    ("service", ("faceindex.service",)),
    ("cli", ("faceindex.cli", "faceindex.demo")),
    ("public names", ("faceindex",)),
)

# Upward imports allowed, each with its reason (also in docs/ARCHITECTURE.md). None today.
EXCEPTIONS: dict[tuple[str, str], str] = {}

# The modules that wrap a part of the compiled core, the only ones that import it.
CORE_WRAPPERS = {
    "faceindex.runtime": "build information, SIMD level, threads",
    "faceindex.flat_index": "_core.search: FlatIndex",
    "faceindex.quality": "_core.vision: sharpness and brightness of face boxes",
    "faceindex.packs.onnx.kernels": "_core.vision: letterbox, decoders, NMS, alignment",
    "faceindex.packs.dlib.kernels": "_core.vision: dlib's pyramid, detector decoding, shape predictor, chips",
    "faceindex.backends.tensorrt": "_core.cuda: device memory",
    "faceindex.video.tracker": "_core.vision: the face tracker and shot changes",
}


def _modules() -> dict[str, Path]:
    found = {"faceindex._core": PACKAGE / "_core.pyi"}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


MODULES = _modules()


def _target(name: str) -> str | None:
    """The faceindex module an imported name lives in (a package's __init__ for its own names)."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _imports(module: str, path: Path) -> set[str]:
    """The faceindex modules this one imports, anywhere in it (functions included)."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join(parent + ([node.module] if node.module else []))
            names.update(f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base for alias in node.names)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    targets = {_target(n) for n in names if n == "faceindex" or n.startswith("faceindex.")}
    return {t for t in targets if t is not None and t != module and t != "faceindex"}


GRAPH = {module: _imports(module, path) for module, path in MODULES.items()}


def room_of(module: str) -> int:
    """The index in ROOMS of the room a module belongs to (the longest matching prefix)."""
    best, length = -1, -1
    for index, (_, prefixes) in enumerate(ROOMS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > length:
                best, length = index, len(prefix)
    return best


def test_every_module_belongs_to_a_room() -> None:
    assert "faceindex.thresholds.choice" in MODULES and "faceindex.cli.run" in MODULES
    assert [m for m in MODULES if room_of(m) < 0] == []


def test_only_the_wrappers_of_the_compiled_core_import_it() -> None:
    assert sorted(m for m, targets in GRAPH.items() if "faceindex._core" in targets) == sorted(CORE_WRAPPERS)


def test_imports_point_down_the_rooms() -> None:
    upward = sorted(
        f"{module} ({ROOMS[room_of(module)][0]}) imports {target} ({ROOMS[room_of(target)][0]})"
        for module, targets in GRAPH.items() for target in targets
        if room_of(target) > room_of(module) and (module, target) not in EXCEPTIONS)
    assert upward == []


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, edges = work[-1]
            advanced = False
            for nxt in edges:
                if nxt not in index:
                    index[nxt] = low[nxt] = len(index)
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(sorted(graph.get(nxt, ())))))
                    advanced = True
                    break
                if nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_modules_import_each_other_in_a_cycle() -> None:
    assert cycles(GRAPH) == []
