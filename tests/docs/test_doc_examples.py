"""Every example of README.md and docs/*.md runs against the test data (doc_examples.py says how).

One test per runnable block, named by page and line; the blocks of a page run in order, in one
folder and namespace, whichever test asks first. A block marked `<!-- example: skip: REASON -->`
is reported as skipped with its reason (pytest -ra lists them).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from doc_examples import REPO, Block, PageRun, pages, parse

BLOCKS: list[tuple[Block, int]] = [(block, i) for page in pages() for i, block in enumerate(parse(page))]


@pytest.fixture(scope="session")
def page_runs(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[Path, PageRun]]:
    runs: dict[Path, PageRun] = {}
    yield runs
    for run in runs.values():
        run.close()


@pytest.mark.parametrize(("block", "index"), BLOCKS, ids=[block.where for block, _ in BLOCKS])
def test_example(block: Block, index: int, page_runs: dict[Path, PageRun], data_dir: Path,
                 tmp_path_factory: pytest.TempPathFactory) -> None:
    if block.skip:
        pytest.skip(f"{block.where}: {block.skip}")
    run = page_runs.get(block.page)
    if run is None:
        folder = tmp_path_factory.mktemp(block.page.relative_to(REPO).with_suffix("").as_posix().replace("/", "-"))
        run = page_runs[block.page] = PageRun(block.page, parse(block.page), folder, data_dir)
    failure = run.result(index)
    if failure:
        pytest.fail(failure, pytrace=False)


def test_every_page_is_read() -> None:
    """The harness reads README.md and every page under docs/, and finds examples in them."""
    found = {block.page for block, _ in BLOCKS}
    assert REPO / "README.md" in found
    assert len(found) >= 5, sorted(str(p) for p in found)
