"""Face ids and the page tokens of listings."""

from __future__ import annotations

import os
import time
import uuid
from typing import Literal

TokenKind = Literal["f", "u"]  # faces (after a row id), users (after a user id)


def new_face_ids(n: int) -> list[str]:
    """n UUIDs (version 7 layout): the millisecond timestamp, then 74 random bits.

    Time-ordered ids append to the face_id index instead of landing on random
    pages, which keeps inserting into a million-face collection fast.
    """
    stamp = format(time.time_ns() // 1_000_000, "012x")
    head = f"{stamp[:8]}-{stamp[8:]}-7"
    text = os.urandom(10 * n).hex()
    # Per id: 3 random hex digits, the RFC 4122 variant (binary 10) over 2 random bits, then 15 more.
    return [f"{head}{text[i:i + 3]}-{_VARIANT[text[i + 3]]}{text[i + 4:i + 7]}-{text[i + 7:i + 19]}"
            for i in range(0, 20 * n, 20)]


_VARIANT = {d: "89ab"[int(d, 16) % 4] for d in "0123456789abcdef"}


_WRITE_IMAGE_IDS = uuid.UUID("6f1c2a9e-4b7d-5e8a-9c3f-1d2e3f4a5b6c")
MAX_WRITE_ID_LENGTH = 200


def write_image_id(write_id: str) -> str:
    """The image id (a UUID) of the faces stored by the index_faces write named `write_id`: the same
    for every repeat of the write, so a repeat finds what the first stored."""
    if not isinstance(write_id, str) or not 0 < len(write_id) <= MAX_WRITE_ID_LENGTH:
        raise ValueError(f"a write id is a string of 1 to {MAX_WRITE_ID_LENGTH} characters, got {write_id!r}")
    return str(uuid.uuid5(_WRITE_IMAGE_IDS, write_id))


def page_token(kind: TokenKind, after: object) -> str:
    """The token that continues a listing after `after` (a row id or a user id)."""
    return f"{kind}{after}"


def read_page_token(token: str | None, kind: TokenKind) -> str | None:
    """Where a listing continues, from a token it returned; None starts at the beginning."""
    if token is None:
        return None
    if not isinstance(token, str) or not token.startswith(kind) or (kind == "f" and not token[1:].isdigit()):
        raise ValueError(f"next_token {token!r} is not one this listing returned")
    return token[1:]
