"""ClientRequestToken: a request repeated with the same token (a client's retry) succeeds as the
first did; the same token with other parameters is IdempotentParameterMismatchException.

Tokens are remembered by the server process (the most recent MAX_TOKENS), not across restarts.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

from faceindex.service.errors import ServiceError

MAX_TOKENS = 100_000

_seen: OrderedDict[tuple[str, ...], str] = OrderedDict()
_lock = threading.Lock()
# Held by a request with a token from its check to its record, so that two copies of one retry
# arriving together do not both run (the second would fail where the first succeeded).
requests_with_tokens = threading.Lock()


def mismatch(message: str) -> ServiceError:
    return ServiceError("IdempotentParameterMismatchException", message)


def seen(scope: tuple[str, ...], token: str | None, parameters: str) -> bool:
    """Whether this token already succeeded in this scope (home, collection, operation) with these
    parameters; IdempotentParameterMismatchException if it came with others."""
    if token is None:
        return False
    with _lock:
        earlier = _seen.get(scope + (token,))
    if earlier is None:
        return False
    if earlier != parameters:
        raise mismatch(f"ClientRequestToken {token!r} was used with other parameters ({earlier})")
    return True


def remember(scope: tuple[str, ...], token: str | None, parameters: str) -> None:
    """Record a token whose request succeeded."""
    if token is None:
        return
    key = scope + (token,)
    with _lock:
        _seen[key] = parameters
        _seen.move_to_end(key)
        while len(_seen) > MAX_TOKENS:
            _seen.popitem(last=False)
