"""CreateUser / DeleteUser with a ClientRequestToken whose first try ended in doubt: the write
landed on a sharded collection's shard after the request had answered ServiceUnavailable (the
shard was slower than --shard-timeout). The SDK's retry carries the same token; it must succeed
as the first would have, not answer ConflictException / ResourceNotFoundException. The shard's
lateness is injected around a real collection: the write happens, then the shard's error."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from collection_helpers import SYNTHETIC
from faceindex.collection import Collections
from faceindex.distributed.results import ShardUnavailableError
from faceindex.service.config import ServiceConfig
from faceindex.service.context import RequestContext
from faceindex.service.errors import from_faceindex_error
from faceindex.service.operations import load_all


class LateShard:
    """A collection whose next write lands and is then answered as a shard that did not answer."""

    def __init__(self, collection: Any) -> None:
        self.collection = collection
        self.late = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self.collection, name)

    def create_user(self, user_id: str) -> None:
        self.collection.create_user(user_id)
        self._answer()

    def delete_user(self, user_id: str, delete_faces: bool = True) -> Any:
        result = self.collection.delete_user(user_id, delete_faces)
        self._answer()
        return result

    def _answer(self) -> None:
        if self.late:
            self.late = False
            raise ShardUnavailableError("could not create the user: shard(s) [1] of 'people' did not answer within "
                                        "3.0 s", (1,))


@pytest.fixture()
def call(tmp_path: Path) -> Iterator[Any]:
    collections = Collections(tmp_path)
    shard = LateShard(collections.create_collection("people", SYNTHETIC))
    handlers = load_all()

    def run(operation: str, **params: Any) -> tuple[str, Any]:
        ctx = RequestContext(request_id="r", config=ServiceConfig(home=tmp_path, no_auth=True),
                             collections=collections, open_collection=lambda _: shard,  # type: ignore[arg-type,return-value]
                             default_engine=None, forget_collection=lambda _: None, catalog=None,  # type: ignore[arg-type]
                             cancelled=threading.Event())
        try:
            return "ok", handlers[operation](ctx, {"CollectionId": "people", **params})
        except Exception as error:  # what the endpoint would answer
            answer = from_faceindex_error(error)
            return answer.code, answer.status

    run.shard = shard  # type: ignore[attr-defined]
    yield run
    shard.collection.close()


def test_a_create_user_retried_after_a_late_shard_succeeds(call: Any) -> None:
    call.shard.late = True
    assert call("CreateUser", UserId="ana", ClientRequestToken="t-1") == ("ServiceUnavailable", 503)
    assert [u.user_id for u in call.shard.list_users().users] == ["ana"]  # it landed
    assert call("CreateUser", UserId="ana", ClientRequestToken="t-1") == ("ok", {})  # the SDK's retry
    assert call("CreateUser", UserId="ana", ClientRequestToken="t-1") == ("ok", {})
    # Another token (another caller) is told the user exists; so is the same token without doubt.
    assert call("CreateUser", UserId="ana", ClientRequestToken="t-2") == ("ConflictException", 400)
    assert call("CreateUser", UserId="ana") == ("ConflictException", 400)
    # The token in doubt was for ana: with other parameters it is a mismatch, as any reused token.
    assert call("CreateUser", UserId="ben", ClientRequestToken="t-1")[0] == "IdempotentParameterMismatchException"


def test_a_delete_user_retried_after_a_late_shard_succeeds(call: Any) -> None:
    assert call("CreateUser", UserId="ana") == ("ok", {})
    call.shard.late = True
    assert call("DeleteUser", UserId="ana", ClientRequestToken="d-1") == ("ServiceUnavailable", 503)
    assert call("DeleteUser", UserId="ana", ClientRequestToken="d-1") == ("ok", {})
    assert call("DeleteUser", UserId="ana", ClientRequestToken="d-2") == ("ResourceNotFoundException", 400)
