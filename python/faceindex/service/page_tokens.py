"""NextToken of the listings the service pages itself (ListCollections, ListStreamProcessors): the last
name of the page before, with a keyed hash of it, so that a token this server never gave (made up,
cut, from another listing) is InvalidPaginationTokenException instead of a silent page. The key is
kept in <home>/service (0600), so tokens outlive a restart. An empty token is the first page, as
AWS's own examples send it."""

from __future__ import annotations

import hashlib
import hmac
import os
from pathlib import Path

from faceindex.collection import permissions
from faceindex.service.errors import ServiceError

KEY_NAME = "page-tokens.key"
MAX_TOKEN = 255  # Rekognition's PaginationToken
_SHORT, _LONG = 12, 24  # hex digits of the keyed hash: beside the name, or alone for the longest names


def invalid_token(message: str) -> ServiceError:
    return ServiceError("InvalidPaginationTokenException", message)


class PageTokens:
    def __init__(self, directory: Path) -> None:
        permissions.ensure_private_dir(directory)
        path = directory / KEY_NAME
        try:
            permissions.create_private_file(path)
            with open(path, "wb") as f:
                f.write(os.urandom(32))
                f.flush()
                os.fsync(f.fileno())
        except FileExistsError:
            pass
        self._key = path.read_bytes()
        if len(self._key) != 32:
            raise ValueError(f"{path} is damaged (not 32 bytes): delete it, and every page token given before is refused")

    def _mac(self, listing: str, name: str, digits: int) -> str:
        return hmac.new(self._key, f"{listing}\0{name}".encode(), hashlib.sha256).hexdigest()[:digits]

    def make(self, listing: str, last: str) -> str:
        """The token of the page after `last` (a name of the listing's alphabet: no '~')."""
        token = f"{last}~{self._mac(listing, last, _SHORT)}"
        return token if len(token) <= MAX_TOKEN else f"~{self._mac(listing, last, _LONG)}"

    def read(self, listing: str, token: str | None, names: list[str]) -> str | None:
        """Where the listing goes on (None: the first page): the name the token stands for.
        names: the listing's names (sorted), to find the longest ones, whose token holds only a hash."""
        if not token:
            return None
        name, _, mac = token.rpartition("~")
        if name and len(mac) == _SHORT and hmac.compare_digest(mac, self._mac(listing, name, _SHORT)):
            return name
        if not name and len(mac) == _LONG:
            for candidate in names:
                if len(candidate) + 1 + _SHORT > MAX_TOKEN and hmac.compare_digest(
                        mac, self._mac(listing, candidate, _LONG)):
                    return candidate
        raise invalid_token(f"NextToken {token[:60]!r} is not one this server gave for {listing}")
