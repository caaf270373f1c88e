"""ClientRequestToken: a request repeated with the same token (a client's retry) succeeds as the
first did; the same token with other parameters is IdempotentParameterMismatchException.

Tokens are remembered by the server process (the most recent MAX_TOKENS), not across restarts.

A request whose outcome is unknown (a sharded collection's shard did not answer in time: the
write may still land) leaves its token "in doubt": its retry runs again, and the error that
says the first attempt did land (the user exists, the user is gone) counts as its success.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

from faceindex.service.errors import ServiceError

MAX_TOKENS = 100_000

_seen: OrderedDict[tuple[str, ...], str] = OrderedDict()
_in_doubt: OrderedDict[tuple[str, ...], str] = OrderedDict()
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
    if token is not None:
        _keep(_seen, scope + (token,), parameters)


def doubt(scope: tuple[str, ...], token: str | None, parameters: str) -> None:
    """Record a token whose request may or may not have taken effect."""
    if token is not None:
        _keep(_in_doubt, scope + (token,), parameters)


def was_in_doubt(scope: tuple[str, ...], token: str | None, parameters: str) -> bool:
    """Whether an earlier try of this token, with these parameters, ended in doubt."""
    if token is None:
        return False
    with _lock:
        return _in_doubt.get(scope + (token,)) == parameters


def _keep(table: OrderedDict[tuple[str, ...], str], key: tuple[str, ...], parameters: str) -> None:
    with _lock:
        table[key] = parameters
        table.move_to_end(key)
        while len(table) > MAX_TOKENS:
            table.popitem(last=False)
