"""Every example of README.md and docs/*.md runs against the test data (doc_examples.py says how).

One test per runnable block, named by page and line; the blocks of a page run in order, in one
folder and namespace, whichever test asks first. A block marked `<!-- example: skip: REASON -->`
is reported as skipped with its reason (pytest -ra lists them).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from doc_examples import EXAMPLE_FILES, REPO, Block, PageRun, pages, parse



def parsed(page: Path) -> list[Block] | str:
    """The page's runnable blocks, or why the page cannot be read (a test of its own fails with it,
    so one page's mistake does not stop the examples of the others)."""
    try:
        return parse(page)
    except ValueError as error:
        return str(error)


PAGES = {page: parsed(page) for page in pages()}
BLOCKS: list[tuple[Block, int]] = [(block, i) for found in PAGES.values() if isinstance(found, list)
                                   for i, block in enumerate(found)]


@pytest.mark.parametrize("page", list(PAGES), ids=[str(page.relative_to(REPO)) for page in PAGES])
def test_page_is_readable(page: Path) -> None:
    """Every fence says what it is, every marker is one the harness knows."""
    found = PAGES[page]
    if isinstance(found, str):
        pytest.fail(found, pytrace=False)


@pytest.fixture(scope="session")
def page_runs(data_file: Callable[[str], Path]) -> Iterator[dict[Path, PageRun]]:
    for relative in EXAMPLE_FILES.values():
        data_file(relative)  # skips (or fails, FACEINDEX_REQUIRE_TEST_DATA=1) when the test data lacks it
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
    """The harness reads README.md and every page under docs/ (new ones included), and finds the
    README's quick starts among the examples it runs."""
    assert set(PAGES) == {REPO / "README.md", *(REPO / "docs").rglob("*.md")}
    readme = [block for block, _ in BLOCKS if block.page == REPO / "README.md" and not block.skip]
    assert {block.lang for block in readme} >= {"python", "console"}, readme


def test_readme_is_a_newcomers_page() -> None:
    """At most 250 lines (issue 26): the reference lives in docs/, dated figures in bench/results/."""
    lines = (REPO / "README.md").read_text(encoding="utf-8").count("\n")
    assert lines <= 250, f"README.md has {lines} lines; move reference material into docs/"
