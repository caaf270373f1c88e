"""The documentation site builds with MkDocs in strict mode (what `make docs` runs): every link and
anchor resolves, every page is in the nav, the API reference resolves from the docstrings, and the
generated pages (the README as home, the command-line reference, the performance page) are made."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from doc_examples import REPO


def test_site_builds_strict(tmp_path: Path) -> None:
    site = tmp_path / "site"
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1")
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    cli = (site / "reference" / "cli.html").read_text(encoding="utf-8")
    for command in ("faceindex compare", "faceindex collection create", "faceindex video search", "faceindex serve"):
        assert command in cli, command
    performance = (site / "performance.html").read_text(encoding="utf-8")
    for suite in sorted((REPO / "bench" / "results").glob("bench_*.json")):
        assert f'id="{suite.stem}"' in performance, suite.stem
    engine = (site / "reference" / "engine.html").read_text(encoding="utf-8")
    assert "Finds faces in images and turns them into embeddings" in engine
    home = (site / "index.html").read_text(encoding="utf-8")
    assert "Python quick start" in home and 'href="packs.html"' in home
