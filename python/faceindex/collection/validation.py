"""Checks of caller-supplied names and numbers, with messages that say what was expected."""

from __future__ import annotations

import operator
import re
from collections.abc import Iterable, Sequence

from faceindex.errors import InputError

# Rekognition's patterns: ids are safe as file names and in URLs. Folder names that start with '.'
# are the home's own (staging folders, never listed), and '.' and '..' name no folder: a collection
# id that starts with '.' (Rekognition allows it) lives in the folder '~' + id ('~' is in no id).
_COLLECTION_ID = re.compile(r"^[A-Za-z0-9_.\-]{1,255}\Z")
_DOTTED_FOLDER = "~"
_USER_ID = re.compile(r"^[A-Za-z0-9_.\-:]{1,128}\Z")  # \Z: "$" would let a trailing newline through
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
MAX_MATCHES = 4096


def collection_id(value: object) -> str:
    if not isinstance(value, str) or not _COLLECTION_ID.match(value):
        raise InputError(f"collection id must be 1-255 characters of letters, digits, '_', '.' and '-', got {value!r}")
    return value


def collection_folder(value: object) -> str:
    """The folder name of a collection id (checked): the id itself, or '~' + id for one that starts with '.'."""
    checked = collection_id(value)
    if not checked.startswith("."):
        return checked
    if len(checked) > 254:
        raise InputError(f"collection id {checked[:20]!r}... starts with '.' and is over 254 characters: such an id "
                         "is kept in a folder named '~' + id, and a folder name has at most 255")
    return _DOTTED_FOLDER + checked


def collection_of_folder(name: str) -> str | None:
    """The collection id a folder of the home holds, None for the home's own folders ('.' + anything)."""
    if name.startswith("."):
        return None
    if name.startswith(_DOTTED_FOLDER):
        return name[1:] if name[1:2] == "." else None
    return name


def user_id(value: object) -> str:
    if not isinstance(value, str) or not _USER_ID.match(value):
        raise ValueError(f"user id must be 1-128 characters of letters, digits, '_', '.', '-' and ':', got {value!r}")
    return value


def external_image_id(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value or len(value) > 255 or _CONTROL.search(value):
        raise ValueError(f"external_image_id must be 1-255 printable characters or None, got {value!r}")
    return value


def image_size(value: object) -> tuple[int, int]:
    """An image's (width, height): two positive integers."""
    try:
        width, height = (operator.index(v) for v in value if not isinstance(v, bool))  # type: ignore[attr-defined]
    except (TypeError, ValueError):
        raise ValueError(f"image_size must be (width, height), two positive integers, got {value!r}") from None
    if not (0 < width <= 1 << 20 and 0 < height <= 1 << 20):
        raise ValueError(f"image_size must be (width, height), two positive integers, got {value!r}")
    return width, height


def face_ids(values: str | Iterable[str]) -> list[str]:
    """A list of face ids (a single id is accepted too); duplicates are dropped, order kept."""
    items = [values] if isinstance(values, str) else list(values)
    for item in items:
        if not isinstance(item, str) or not item:
            raise TypeError(f"face ids must be non-empty strings, got {item!r}")
    return list(dict.fromkeys(items))


def count(value: object, name: str, low: int = 1, high: int = MAX_MATCHES) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"{name} must be an int from {low} to {high}, got {value!r}")
    return value


def per_face(value: None | str | Sequence[str | None], n: int, name: str) -> list[str | None]:
    """One value for every face: a single value is repeated, a sequence must have n items."""
    if value is None or isinstance(value, str):
        return [value] * n
    items = list(value)
    if len(items) != n:
        raise ValueError(f"{name} has {len(items)} items for {n} embeddings")
    return items
