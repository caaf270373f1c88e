"""MkDocs hook (mkdocs.yml `hooks:`): the pages generated at build time, from their one source each.

    index.md            README.md, its links into docs/ made relative to the site
    reference/cli.md    the `faceindex` parser (faceindex.cli.run.build_parser), every command's --help
    performance.md      bench/results/*.json and the precision records in models/calibration/

Nothing generated is written into docs/: the pages exist only in the build.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

from mkdocs.structure.files import File, Files

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
sys.path.insert(0, str(HERE))

import cli_reference  # noqa: E402
import performance_page  # noqa: E402


def readme_as_home(text: str) -> str:
    """README.md as the site's home page: links to docs/X become X (the site's own pages)."""
    return re.sub(r"\]\(docs/", "](", text)


def on_files(files: Files, config: Any) -> Files:
    pages = {
        "index.md": readme_as_home((REPO / "README.md").read_text(encoding="utf-8")),
        "reference/cli.md": cli_reference.page(),
        "performance.md": performance_page.page(REPO),
    }
    for uri, content in pages.items():
        if files.get_file_from_path(uri) is not None:
            raise SystemExit(f"docs/{uri} is generated at build time (scripts/docs/hooks.py): remove the file")
        files.append(File.generated(config, uri, content=content))
    return files
