"""Labeled Faces in the Wild: the pairs file of the shared test data and its images."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class LfwPair:
    fold: int
    image_a: Path
    image_b: Path
    same: bool


def read_pairs(pairs_file: str | Path, images_dir: str | Path | None = None) -> list[LfwPair]:
    """Parse `fold<TAB>pairs.txt line` rows: `name i j` (same person) or `name1 i name2 j`.

    Images are `images_dir/Name/Name_0001.jpg` (default: `images/` beside the pairs file).
    """
    pairs_file = Path(pairs_file)
    root = Path(images_dir) if images_dir is not None else pairs_file.parent / "images"
    pairs = []
    for line_no, line in enumerate(pairs_file.read_text().splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        fields = line.split("\t")
        try:
            fold = int(fields[0])
            if len(fields) == 4:
                name, i, j = fields[1], int(fields[2]), int(fields[3])
                a, b, same = _image(root, name, i), _image(root, name, j), True
            elif len(fields) == 5:
                a, b, same = _image(root, fields[1], int(fields[2])), _image(root, fields[3], int(fields[4])), False
            else:
                raise ValueError(f"expected 4 or 5 fields, got {len(fields)}")
        except ValueError as e:
            raise ValueError(f"{pairs_file}:{line_no}: bad pair line {line!r}: {e}") from e
        pairs.append(LfwPair(fold, a, b, same))
    return pairs


def _image(root: Path, name: str, index: int) -> Path:
    return root / name / f"{name}_{index:04d}.jpg"
