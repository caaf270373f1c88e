"""No code path that reads a file or network input can unpickle it: pickle runs arbitrary code."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SOURCES = sorted(p for d in ("python", "bench", "scripts") for p in (ROOT / d).rglob("*.py"))

UNSAFE = {
    "pickle / cPickle / dill / joblib / shelve / marshal": re.compile(r"^\s*(import|from)\s+(c?pickle|dill|joblib|shelve|marshal)\b", re.M),
    "allow_pickle=True": re.compile(r"allow_pickle\s*=\s*True"),
    "yaml.load without SafeLoader": re.compile(r"yaml\.load\((?![^)]*SafeLoader)"),
    "torch.load": re.compile(r"torch\.load\("),
    "pandas.read_pickle": re.compile(r"read_pickle\("),
}


def test_the_scan_sees_the_sources() -> None:
    assert any(p.name == "images.py" for p in SOURCES) and len(SOURCES) > 50


@pytest.mark.parametrize("what", UNSAFE)
def test_no_unsafe_deserialiser(what: str) -> None:
    found = [f"{p.relative_to(ROOT)}:{text[:m.start()].count(chr(10)) + 1}"
             for p in SOURCES for text in [p.read_text(encoding="utf-8")] for m in UNSAFE[what].finditer(text)]
    assert found == [], f"{what} in {found}"


def test_every_np_load_refuses_pickles_explicitly() -> None:
    # numpy's default is False today; saying so keeps it so if a default or a copy-paste changes.
    calls = [(p, m) for p in SOURCES for m in re.finditer(r"np\.load\(([^()]|\([^()]*\))*\)", p.read_text(encoding="utf-8"))]
    assert calls, "no np.load call found: the pattern is stale"
    loose = [f"{p.relative_to(ROOT)}: {m.group(0)}" for p, m in calls if "allow_pickle=False" not in m.group(0)]
    assert loose == []
