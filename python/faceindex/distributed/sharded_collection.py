"""ShardedCollection: the Collection API over N Ray actors, each holding one shard.

A sharded collection is a folder: layout.json (its id and number of shards) and one
folder per shard, shard-000 ..., each an ordinary collection (SQLite database and
FlatIndex cache) that its actor opens. The folders must be reachable from the node that
runs each actor (one machine, or a shared filesystem), so a restarted actor finds its shard.

Faces are placed by a stable hash (placement.py): by user when indexed for one, else by
image. A search scatters to every shard and merges: the threshold is chosen once, for the
whole collection's size, and every shard answers with its best matches at that threshold,
so the merged top k is exactly what one Collection holding the same faces returns; users
are whole on one shard, so user search merges exactly too.

Waits are bounded: a search asks the shards' sizes, then searches them, each round waiting
up to timeout_s. A shard that does not answer in time (dead, restarting) makes a search raise ShardUnavailableError naming it, or with allow_partial=True answer with
partial=True and the shard in missing_shards, never silently fewer faces.

Listings (list_faces, list_users) merge the shards' pages in one global order, by face id
and by user id, so a page token is the last id of the page before. A face moved between
shards (associate_faces: a user's faces live on the user's shard; face_moves.py) is written
on the target before it is erased from the source; merges keep one answer per face id, so a
move interrupted between the two never shows a face twice.
"""

from __future__ import annotations

import dataclasses
import json
import os
import random
import re
import shutil
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, overload

import numpy as np
import numpy.typing as npt
import ray
from ray.exceptions import ActorUnavailableError, RayActorError, RayTaskError

from faceindex.collection import Collections, audit, validation
from faceindex.collection.audit import AuditEntry
from faceindex.collection.contract import FaceCollection
from faceindex.collection.faces import every_face, faces_to_index
from faceindex.collection.quality_filter import QualityFilterSpec
from faceindex.collection.search import searched_faces
from faceindex.collection.results import (
    AssociateFacesResult,
    CollectionDescription,
    DeleteFacesResult,
    DeleteUserResult,
    DisassociateFacesResult,
    FaceMatch,
    FaceRecord,
    FacesPage,
    IndexFacesResult,
    UnsuccessfulFaceAssociation,
    UnsuccessfulFaceDeletion,
    UserMatch,
    UsersPage,
)
from faceindex.collection.ids import new_face_ids, page_token, read_page_token, write_image_id
from faceindex.collection.state import PackIdentity
from faceindex.distributed import layout, shard_spread
from faceindex.distributed.layout import LAYOUT_NAME, SHARDED_FOLDER, sharded_path
from faceindex.distributed.placement import placement_key, shard_of
from faceindex.distributed.results import ShardedFaceSearchResult, ShardedUserSearchResult, ShardUnavailableError
from faceindex.distributed.shard import Shard, ShardInfo
from faceindex.engine import FaceEngine
from faceindex.errors import (
    CollectionExistsError,
    CollectionFileError,
    FaceIdTakenError,
    FaceNotFoundError,
    UserNotFoundError,
)
from faceindex import thresholds
from faceindex.types import Face, FloatArray, PackInfo, ThresholdChoice

__all__ = ["LAYOUT_NAME", "SHARDED_FOLDER", "ShardedCollection", "sharded_path"]

DEFAULT_TIMEOUT_S = 30.0
# Starting the shards' actors (a process each, importing faceindex, opening the shard) is slower
# than answering: it gets at least this long, whatever timeout_s is.
START_TIMEOUT_S = 120.0
# Errors that mean "this shard's actor is not there now" (dead, restarting): retried until the timeout.
ABSENT = (RayActorError, ActorUnavailableError)
_RETRY_PAUSE_S = 0.2
# list_faces' page token: "g" and the last face id of the page before (face ids are UUIDs).
_FACE_TOKEN = re.compile(r"g[0-9A-Za-z-]{1,64}\Z")


def shard_actor_class(**options: Any) -> Any:
    """The Shard as a Ray actor: restarted from its folder whenever it dies (max_restarts=-1),
    threaded so that one shard serves concurrent searches, and holding no CPU of the
    scheduler's by default (a shard waits on its callers far more than it computes)."""
    settings: dict[str, Any] = {"max_restarts": -1, "max_concurrency": 8, "num_cpus": 0}
    settings.update(options)
    return ray.remote(**settings)(Shard)


def _get(refs: Any, timeout: float) -> Any:
    """ray.get; an error a shard raised (UserNotFoundError, ValueError, ...) is raised as itself,
    not as Ray's wrapper whose message carries the actor's traceback."""
    try:
        return ray.get(refs, timeout=timeout)
    except RayTaskError as e:
        if isinstance(e.cause, Exception):
            raise e.cause from None
        raise


def _start(actor: Any, directory: str, collection_id: str, timeout_s: float) -> Any:
    """A shard's actor. A named one whose name is taken is waited for (up to timeout_s): the
    actors of a collection just closed take a moment to end and give their names back."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return actor.remote(directory, collection_id)
        except ValueError as e:  # Ray: the name is taken
            if time.monotonic() > deadline:
                raise CollectionFileError(
                    f"sharded collection {collection_id!r} is open in another process of this Ray namespace "
                    f"(its shard actors' names are taken): close it there first") from e
            time.sleep(_RETRY_PAUSE_S)


class ShardedCollection:
    """A collection spread over Ray actors. Create one with ShardedCollection.create, open it
    with ShardedCollection(home, collection_id). Ray must be initialised (ray.init) first.

    timeout_s bounds every wait for the shards. actor_options go to each shard's actor
    (e.g. {"num_cpus": 1}, or a scheduling_strategy of your own; without one the shards are
    spread over the nodes by a placement group: shard_spread.py). actor_names: name shard i's actor
    "<actor_names><collection_id>/shard-<i>" in the job's Ray namespace, so that operators (and
    tests) find it, and a second process opening the same collection in that namespace is
    refused instead of running a second set of actors on the same folders.
    """

    def __init__(self, home: str | os.PathLike[str] | None, collection_id: str, *, engine: FaceEngine | None = None,
                 timeout_s: float = DEFAULT_TIMEOUT_S, actor_options: dict[str, Any] | None = None,
                 actor_names: str | None = None) -> None:
        self.home = home
        self.directory = sharded_path(home, collection_id)
        self.collection_id = collection_id
        self.shards = layout.shard_count(home, collection_id)
        lost = [i for i in range(self.shards) if not self.shard_directory(i).is_dir()]
        if lost:
            raise CollectionFileError(f"sharded collection {collection_id!r} has lost the folders of shard(s) "
                                      f"{lost} (under {self.directory})")
        self.timeout_s = timeout_s
        self._engine = engine
        actor = shard_actor_class(**(actor_options or {}))
        placed = actor_options is not None and "scheduling_strategy" in actor_options
        start_timeout_s = max(timeout_s, START_TIMEOUT_S)
        self.actors: list[Any] = []
        self._placement = None if placed else shard_spread.spread_placement(self.shards, start_timeout_s,
                                                                             actor_options or {})
        if not placed and self._placement is None:
            self._require(tuple(range(self.shards)), "place the shards on the cluster's nodes", start_timeout_s)
        try:
            for i in range(self.shards):
                options: dict[str, Any] = ({} if self._placement is None
                                           else shard_spread.shard_options(self._placement, i, actor_options or {}))
                if actor_names is not None:
                    options["name"] = f"{actor_names}{collection_id}/shard-{i:03d}"
                self.actors.append(_start(actor.options(**options), str(self.shard_directory(i)), collection_id,
                                          timeout_s))
            described, missing = self._call_all(lambda i: self.actors[i].describe.remote(), range(self.shards),
                                                start_timeout_s)
            self._require(missing, "start the shards", start_timeout_s)
        except BaseException:
            for started in self.actors:
                ray.kill(started, no_restart=True)
            shard_spread.release(self._placement)
            raise
        self.pack: PackInfo = described[0].pack

    @classmethod
    def create(cls, home: str | os.PathLike[str] | None, collection_id: str, shards: int, pack: PackInfo | str,
               **options: Any) -> ShardedCollection:
        """A new, empty sharded collection of `shards` shards bound to a pack (a PackInfo, or a pack
        name whose FaceEngine is loaded to learn its version). CollectionExistsError if the id is taken."""
        if not isinstance(shards, int) or isinstance(shards, bool) or not 1 <= shards <= 4096:
            raise ValueError(f"shards must be an integer from 1 to 4096, got {shards!r}")
        directory = sharded_path(home, collection_id)
        if directory.exists():
            raise CollectionExistsError(f"sharded collection {collection_id!r} already exists in {directory.parent}")
        info = pack if isinstance(pack, PackInfo) else FaceEngine(pack=pack).pack
        directory.mkdir(parents=True, mode=0o700)
        # The shards' collections are made here, once: an actor only ever opens its shard, so a
        # restart can never make a new, empty one where a shard's folder has gone.
        for shard in range(shards):
            Collections(directory / f"shard-{shard:03d}").create_collection(collection_id, info).close()
        (directory / LAYOUT_NAME).write_text(json.dumps({"collection_id": collection_id, "shards": shards}),
                                             encoding="utf-8")
        try:
            return cls(home, collection_id, **options)
        except BaseException:
            shutil.rmtree(directory, ignore_errors=True)  # empty yet: a retry can make it anew
            raise

    def describe_shards(self) -> list[ShardInfo]:
        """Each shard's pack, faces, process and node (ShardUnavailableError if one does not answer)."""
        answers, missing = self._call_all(lambda i: self.actors[i].describe.remote(), range(self.shards),
                                          self.timeout_s)
        self._require(missing, "describe the shards")
        return [answers[i] for i in range(self.shards)]

    def shard_directory(self, shard: int) -> Path:
        return layout.shard_directory(self.directory, shard)

    def describe_collection(self) -> CollectionDescription:
        """As Collections.describe_collection, summed over the shards."""
        return layout.describe_sharded(self.home, self.collection_id)

    # -- lifecycle ----------------------------------------------------------------------------

    def close(self) -> None:
        """Close every shard's collection (saving its index cache) and end the actors."""
        self._call_all(lambda i: self.actors[i].close.remote(), range(self.shards), self.timeout_s)
        for actor in self.actors:
            ray.kill(actor, no_restart=True)
        self.actors = []
        shard_spread.release(self._placement)
        self._placement = None

    def __enter__(self) -> ShardedCollection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __len__(self) -> int:
        counts, missing = self._call_all(lambda i: self.actors[i].face_count.remote(), range(self.shards), self.timeout_s)
        self._require(missing, "count the faces")
        return sum(counts.values())

    def __repr__(self) -> str:
        return f"ShardedCollection({self.collection_id!r}, shards={self.shards}, path={str(self.directory)!r})"

    @property
    def engine(self) -> FaceEngine:
        """The engine that embeds query images here (the collection's pack, made on first use)."""
        if self._engine is None:
            self._engine = FaceEngine(pack=self.pack.name)
        return self._engine

    # -- scatter / gather ---------------------------------------------------------------------

    def _call_all(self, call: Callable[[int], Any], shards: Sequence[int] | range, timeout_s: float
                  ) -> tuple[dict[int, Any], tuple[int, ...]]:
        """call(shard) (a future) for each shard; the answers by shard, and the shards that gave none in time.

        One ray.wait and one ray.get over all the futures; a shard whose actor is down (dead or
        restarting) is asked again until the deadline. An error the shard raised is raised here.
        """
        deadline = time.monotonic() + timeout_s
        pending = {call(i): i for i in shards}
        answers: dict[int, Any] = {}
        while pending:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            ready, _ = ray.wait(list(pending), num_returns=len(pending), timeout=left)
            if not ready:
                break
            try:
                values = _get(ready, max(left, 0.001))
                for ref, value in zip(ready, values):
                    answers[pending.pop(ref)] = value
                continue
            except ABSENT:
                pass
            retry = []
            for ref in ready:
                shard = pending.pop(ref)
                try:
                    answers[shard] = _get(ref, max(deadline - time.monotonic(), 0.001))
                except ABSENT:
                    retry.append(shard)
            if retry:
                time.sleep(min(_RETRY_PAUSE_S, max(deadline - time.monotonic(), 0)))
                pending.update({call(i): i for i in retry})
        for ref in pending:
            ray.cancel(ref)
        return answers, tuple(sorted(pending.values()))

    def _require(self, missing: tuple[int, ...], what: str, timeout_s: float | None = None) -> None:
        if missing:
            raise ShardUnavailableError(
                f"could not {what}: shard(s) {list(missing)} of {self.collection_id!r} did not answer within "
                f"{self.timeout_s if timeout_s is None else timeout_s} s", missing)

    def _choose(self, timeout_s: float, threshold: float | None, max_fmr: float | None, max_fpir: float | None,
                purpose: str | None, reference: str | None) -> tuple[ThresholdChoice, list[int], tuple[int, ...], int]:
        """The threshold for the whole collection's size, and the shards that answered."""
        audit.note(purpose, "purpose")  # bad values fail before any work
        audit.note(reference, "reference")
        thresholds.for_search(self.pack, 1, threshold, max_fmr, max_fpir)
        counts, missing = self._call_all(lambda i: self.actors[i].face_count.remote(), range(self.shards), timeout_s)
        size = sum(counts.values())
        return thresholds.for_search(self.pack, size, threshold, max_fmr, max_fpir), sorted(counts), missing, size

    def _gather(self, call: Callable[[int], Any], shards: list[int], missing: tuple[int, ...],
                timeout_s: float, allow_partial: bool) -> tuple[dict[int, Any], tuple[int, ...]]:
        """The search on the shards that gave their size (each of the two rounds waits up to timeout_s)."""
        if missing and not allow_partial:
            self._require(missing, "search every shard", timeout_s)
        answers, late = self._call_all(call, shards, timeout_s)
        missing = tuple(sorted(missing + late))
        if missing and not allow_partial:
            self._require(missing, "search every shard", timeout_s)
        return answers, missing

    # -- faces --------------------------------------------------------------------------------

    def index_embeddings(self, embeddings: npt.ArrayLike, *, pack: PackIdentity, faces: Sequence[Face] | None = None,
                         external_image_id: None | str | Sequence[str | None] = None,
                         image_id: None | str | Sequence[str] = None, image_size: tuple[int, int] | None = None,
                         face_ids: Sequence[str] | None = None, user_id: str | None = None) -> list[FaceRecord]:
        """Store embeddings of this collection's pack (as Collection.index_embeddings), each on its
        image's shard, or all on the user's shard with user_id= (an existing user: the faces are
        made the user's). Returns the records in the order given.

        face_ids: the ids to store the faces under (as Collection's); an id stored already, on any
        shard, is FaceIdTakenError (every shard is asked first; nothing is stored)."""
        vectors = np.asarray(embeddings)
        vectors = vectors[None, :] if vectors.ndim == 1 else vectors
        n = len(vectors)
        if faces is not None and len(faces) != n:
            raise ValueError(f"{len(faces)} faces for {n} embeddings")
        externals = validation.per_face(external_image_id, n, "external_image_id")
        image_ids = validation.per_face(image_id if image_id is not None else str(uuid.uuid4()), n, "image_id")
        if user_id is not None:
            validation.user_id(user_id)
        if image_size is not None:
            image_size = validation.image_size(image_size)
            if len(set(image_ids)) > 1:
                raise ValueError("image_size is the size of the one image all the faces came from; these faces "
                                 f"have {len(set(image_ids))} image ids")
        groups: dict[int, list[int]] = {}
        for row, image in enumerate(image_ids):
            if not isinstance(image, str) or not image:
                raise ValueError(f"image ids must be non-empty strings, got {image!r}")
            groups.setdefault(shard_of(placement_key(user_id, image), self.shards), []).append(row)
        given = face_ids is not None
        if face_ids is not None:
            ids = [face_ids] if isinstance(face_ids, str) else list(face_ids)
            if len(ids) != n:
                raise ValueError(f"{len(ids)} face ids for {n} embeddings")
            if self.get_faces(validation.face_ids(ids)):
                raise FaceIdTakenError("a face id given is already stored in this collection (nothing was stored)")
        else:
            # Chosen here, once: a write sent again after its shard died stores its faces once.
            ids = new_face_ids(n)
        stored, missing = self._call_all(lambda i: self.actors[i].index_embeddings.remote(
            vectors[groups[i]], pack, None if faces is None else [faces[r] for r in groups[i]],
            [externals[r] for r in groups[i]], [image_ids[r] for r in groups[i]], user_id,
            [ids[r] for r in groups[i]], image_size, not given), sorted(groups), self.timeout_s)
        self._require(missing, f"store the faces placed there (the other shards stored theirs: {sorted(stored)})")
        records: list[FaceRecord | None] = [None] * n
        for shard, rows in groups.items():
            for row, record in zip(rows, stored[shard]):
                records[row] = record
        return [r for r in records if r is not None]

    def index_faces(self, image: Any, external_image_id: str | None = None, max_faces: int | None = None,
                    quality_filter: QualityFilterSpec = "auto", *, user_id: str | None = None,
                    write_id: str | None = None) -> IndexFacesResult:
        """Detect, filter and embed an image's faces here (by `engine`), and store them on one shard
        (the user's with user_id=, else a shard by the write's image id).

        write_id: the caller's name for this write (default: a new one). A ShardUnavailableError
        does not say whether the faces landed (a shard slower than the timeout goes on and stores
        them): calling again with the same write_id is safe, it answers the faces the first call
        stored instead of storing them again. The endpoint gives the SDK's invocation id, the same
        on each of its retries.
        """
        external_image_id = validation.external_image_id(external_image_id)
        if user_id is not None:
            validation.user_id(user_id)
        write_id = str(uuid.uuid4()) if write_id is None else write_id
        shard = shard_of(placement_key(user_id, write_image_id(write_id)), self.shards)
        faces, embeddings, unindexed, image_size = faces_to_index(self.engine, image, max_faces, quality_filter)
        answers, missing = self._call_all(lambda i: self.actors[i].store_faces.remote(
            write_id, embeddings, self.engine.pack, list(faces), unindexed, external_image_id, image_size, user_id),
            [shard], self.timeout_s)
        self._require(missing, f"index the image (write {write_id!r}: its faces may still land; the same write "
                               "sent again is stored once)")
        result: IndexFacesResult = answers[shard]
        return result

    def get_faces(self, face_ids: str | Sequence[str]) -> dict[str, FaceRecord]:
        ids = validation.face_ids(face_ids)
        answers, missing = self._call_all(lambda i: self.actors[i].get_faces.remote(ids), range(self.shards), self.timeout_s)
        self._require(missing, "look the faces up")
        found: dict[str, FaceRecord] = {}
        for shard in sorted(answers):
            found.update(answers[shard])
        return {i: found[i] for i in ids if i in found}

    def delete_faces(self, face_ids: str | Sequence[str], *, keep_user_faces: bool = False) -> DeleteFacesResult:
        """Erase faces wherever they are (every shard is asked; each erases those it holds). With
        keep_user_faces=True a user's face is kept, as ASSOCIATED_TO_AN_EXISTING_USER."""
        ids = validation.face_ids(face_ids)
        answers, missing = self._call_all(lambda i: self.actors[i].delete_faces.remote(ids, keep_user_faces),
                                          range(self.shards), self.timeout_s)
        self._require(missing, "delete on every shard")
        deleted = {f for result in answers.values() for f in result.deleted_faces}
        kept = {u.face_id: u for result in answers.values() for u in result.unsuccessful_face_deletions
                if u.user_id is not None}
        self._forget_in_audit([f for f in ids if f not in kept])  # those stored nowhere now (a retry's too)
        return DeleteFacesResult([f for f in ids if f in deleted],
                                 [kept.get(f, UnsuccessfulFaceDeletion(f, ("FACE_NOT_FOUND",)))
                                  for f in ids if f not in deleted])

    def list_faces(self, max_results: int = 1000, next_token: str | None = None, *,
                   user_id: str | None = None, external_image_id: str | None = None) -> FacesPage:
        """One page of the stored faces in face id order (the shards' pages merged); pass
        next_token for the next. (A Collection lists in the order faces were indexed: the same
        faces, in another order.)"""
        max_results = validation.count(max_results, "max_results", high=100_000)
        if next_token is not None and (not isinstance(next_token, str) or not _FACE_TOKEN.match(next_token)):
            raise ValueError(f"next_token {next_token!r} is not one this listing returned")
        after = "" if next_token is None else next_token[1:]
        answers, missing = self._call_all(lambda i: self.actors[i].faces_page.remote(
            after, max_results + 1, user_id, external_image_id), range(self.shards), self.timeout_s)
        self._require(missing, "list the faces")
        merged = sorted({r.face_id: r for shard in sorted(answers) for r in answers[shard]}.items())
        page = [record for _, record in merged[:max_results]]
        return FacesPage(page, f"g{page[-1].face_id}" if len(merged) > max_results else None)

    def iter_faces(self, *, user_id: str | None = None, external_image_id: str | None = None,
                   page_size: int = 1000) -> Iterator[FaceRecord]:
        return every_face(self.list_faces, user_id, external_image_id, page_size)

    def __iter__(self) -> Iterator[FaceRecord]:
        return self.iter_faces()

    # -- searching ------------------------------------------------------------------------------

    def search_faces_by_embedding(self, embedding: npt.ArrayLike, *, pack: PackIdentity, max_faces: int = 10,
                                  threshold: float | None = None, max_fmr: float | None = None,
                                  max_fpir: float | None = None, purpose: str | None = None,
                                  reference: str | None = None, timeout_s: float | None = None,
                                  allow_partial: bool = False) -> ShardedFaceSearchResult:
        """Collection.search_faces_by_embedding over every shard: the exact global top max_faces."""
        query = np.asarray(embedding, dtype=np.float32)
        query = query[None, :] if query.ndim == 1 else query
        if len(query) != 1:
            raise ValueError(f"give one embedding, got {len(query)}")
        return self._search_faces("search_faces_by_embedding", query, pack, max_faces, threshold, max_fmr, max_fpir,
                                  purpose, reference, timeout_s, allow_partial)[0]

    @overload
    def search_faces_by_image(self, image: Any, max_faces: int = 10, threshold: float | None = None,
                              all_faces: Literal[False] = False, *, max_fmr: float | None = None,
                              max_fpir: float | None = None, purpose: str | None = None,
                              reference: str | None = None, quality_filter: QualityFilterSpec = None,
                              timeout_s: float | None = None, allow_partial: bool = False
                              ) -> ShardedFaceSearchResult: ...

    @overload
    def search_faces_by_image(self, image: Any, max_faces: int = 10, threshold: float | None = None, *,
                              all_faces: Literal[True], max_fmr: float | None = None, max_fpir: float | None = None,
                              purpose: str | None = None, reference: str | None = None,
                              quality_filter: QualityFilterSpec = None, timeout_s: float | None = None,
                              allow_partial: bool = False) -> list[ShardedFaceSearchResult]: ...

    def search_faces_by_image(self, image: Any, max_faces: int = 10, threshold: float | None = None,
                              all_faces: bool = False, *, max_fmr: float | None = None, max_fpir: float | None = None,
                              purpose: str | None = None, reference: str | None = None,
                              quality_filter: QualityFilterSpec = None, timeout_s: float | None = None,
                              allow_partial: bool = False) -> ShardedFaceSearchResult | list[ShardedFaceSearchResult]:
        """As Collection.search_faces_by_image: the largest face in the image (every face with
        all_faces=True), held to quality_filter, embedded here by `engine`, searched on every shard."""
        validation.count(max_faces, "max_faces")
        found = searched_faces(self.engine, image, all_faces, quality_filter)
        results = self._search_faces("search_faces_by_image", found.embeddings, self.engine.pack, max_faces,
                                     threshold, max_fmr, max_fpir, purpose, reference, timeout_s, allow_partial)
        results = [dataclasses.replace(r, searched_face=face, unsearched_faces=found.unsearched)
                   for face, r in zip(found.faces, results)]
        return results if all_faces else results[0]

    def search_faces(self, face_id: str, max_faces: int = 10, threshold: float | None = None, *,
                     max_fmr: float | None = None, max_fpir: float | None = None, purpose: str | None = None,
                     reference: str | None = None, timeout_s: float | None = None,
                     allow_partial: bool = False) -> ShardedFaceSearchResult:
        """Faces like a stored one (the face itself left out). FaceNotFoundError if no shard holds it."""
        query = self._embedding_of_face(face_id)
        result = self._search_faces("search_faces", query, self.pack, max_faces, threshold, max_fmr, max_fpir,
                                    purpose, reference, timeout_s, allow_partial, exclude_face_id=face_id)[0]
        return dataclasses.replace(result, searched_face_id=face_id)

    def _embedding_of_face(self, face_id: str) -> FloatArray:
        if not isinstance(face_id, str) or not face_id:
            raise TypeError(f"face_id must be a non-empty string, got {face_id!r}")
        answers, missing = self._call_all(lambda i: self.actors[i].embedding_of_face.remote(face_id), range(self.shards),
                                          self.timeout_s)
        for vector in answers.values():
            if vector is not None:
                return np.asarray(vector, dtype=np.float32)
        self._require(missing, f"find face {face_id!r}")
        raise FaceNotFoundError(f"face {face_id!r} is not in collection {self.collection_id!r}")

    def _search_faces(self, operation: str, queries: FloatArray, pack: PackIdentity, max_faces: int,
                      threshold: float | None, max_fmr: float | None, max_fpir: float | None, purpose: str | None,
                      reference: str | None, timeout_s: float | None, allow_partial: bool,
                      exclude_face_id: str | None = None) -> list[ShardedFaceSearchResult]:
        max_faces = validation.count(max_faces, "max_faces")
        timeout = self.timeout_s if timeout_s is None else timeout_s
        choice, shards, missing, size = self._choose(timeout, threshold, max_fmr, max_fpir, purpose, reference)
        answers, missing = self._gather(lambda i: self.actors[i].search_faces.remote(
            queries, pack, max_faces, choice.value, exclude_face_id), shards, missing, timeout, allow_partial)
        results = []
        for q in range(len(queries)):
            # One match per face id: a face being moved between shards may be on both for a moment.
            matches: list[FaceMatch] = list({m.face.face_id: m for shard in sorted(answers)
                                             for m in answers[shard][q]}.values())
            matches.sort(key=lambda m: (-m.similarity, m.face.face_id))
            results.append(ShardedFaceSearchResult(matches[:max_faces], choice.value, self.pack.ref, choice,
                                                   partial=bool(missing), missing_shards=missing, searched_faces=size))
        self._record(operation, choice, [m.face.face_id for r in results for m in r.face_matches], purpose,
                     reference, sorted(answers), timeout)
        return results

    def _record(self, operation: str, choice: ThresholdChoice, candidates: list[str], purpose: str | None,
                reference: str | None, answered: list[int], timeout_s: float) -> None:
        """Log a search once, as a Collection does, on one of the shards that answered it (spread at
        random: every search is one durable write; audit_log merges the shards' logs)."""
        shard = random.choice(answered) if answered else random.randrange(self.shards)
        _, missing = self._call_all(lambda i: self.actors[i].record_search.remote(
            operation, choice, candidates, purpose, reference), [shard], timeout_s)
        self._require(missing, "write the search to the audit log")

    def audit_log(self, since: datetime | float | None = None, limit: int | None = None) -> list[AuditEntry]:
        """The searches and compares made through this collection, oldest first (from `since` on):
        the shards' logs merged by time."""
        moment = since.timestamp() if isinstance(since, datetime) else since
        answers, missing = self._call_all(lambda i: self.actors[i].audit_log.remote(moment, limit),
                                          range(self.shards), self.timeout_s)
        self._require(missing, "read the audit log")
        merged = sorted((e for shard in sorted(answers) for e in answers[shard]), key=lambda e: e.at)
        return merged if limit is None else merged[:limit]

    def _forget_in_audit(self, face_ids: list[str]) -> None:
        """Erased faces leave every shard's audit log (a search is logged on one shard, naming
        faces of any)."""
        if not face_ids:
            return
        _, missing = self._call_all(lambda i: self.actors[i].forget_in_audit.remote(face_ids), range(self.shards),
                                    self.timeout_s)
        self._require(missing, "remove the deleted faces from every shard's audit log (they are deleted; "
                               "deleting them again finishes this)")

    # -- users ----------------------------------------------------------------------------------

    def _user_shard(self, user_id: str) -> int:
        return shard_of(placement_key(validation.user_id(user_id), ""), self.shards)

    def _on_user_shard(self, user_id: str, call: Callable[[int], Any], what: str) -> Any:
        shard = self._user_shard(user_id)
        answers, missing = self._call_all(call, [shard], self.timeout_s)
        self._require(missing, what)
        return answers[shard]

    def create_user(self, user_id: str) -> None:
        """A new user, on the shard its id hashes to (where its faces will be stored)."""
        self._on_user_shard(user_id, lambda i: self.actors[i].create_user.remote(user_id), "create the user")

    def associate_faces(self, user_id: str, face_ids: str | Sequence[str], user_match_threshold: float | None = None,
                        *, max_fmr: float | None = None, purpose: str | None = None,
                        reference: str | None = None) -> AssociateFacesResult:
        """As Collection.associate_faces, for faces on any shard: a face of no user held on
        another shard is first moved to the user's shard (face_moves.py: the same face id and
        record; copied before it is erased, so a crash loses nothing and a retry finishes the
        move), where the user's faces live. A face that then fails the match stays moved,
        unassociated, as it would stay in a Collection."""
        ids = validation.face_ids(face_ids)
        target = self._user_shard(user_id)
        self._on_user_shard(user_id, lambda i: self.actors[i].require_user.remote(user_id), "find the user")
        others = [i for i in range(self.shards) if i != target]
        found, missing = self._call_all(lambda i: self.actors[i].get_faces.remote(ids), others, self.timeout_s)
        self._require(missing, "find the faces on the other shards")
        owners: dict[str, str] = {}  # face id -> its user, for a face another shard's user holds
        for shard in sorted(found):
            free = [f for f, record in found[shard].items() if record.user_id is None]
            owners.update({f: record.user_id for f, record in found[shard].items() if record.user_id is not None})
            if free:
                self._move_faces(shard, target, free)
        result: AssociateFacesResult = self._on_user_shard(user_id, lambda i: self.actors[i].associate_faces.remote(
            user_id, ids, user_match_threshold, max_fmr, purpose, reference), "associate the faces")
        # A face of another user lives on that user's shard: the answer one Collection gives for it.
        failures = [UnsuccessfulFaceAssociation(f.face_id, ("ASSOCIATED_TO_A_DIFFERENT_USER",), owners[f.face_id])
                    if f.face_id in owners and f.reasons == ("FACE_NOT_FOUND",) else f
                    for f in result.unsuccessful_face_associations]
        return dataclasses.replace(result, unsuccessful_face_associations=failures)

    def _move_faces(self, source: int, target: int, face_ids: list[str]) -> None:
        """Move faces of no user from one shard to another: written on the target, then erased
        from the source (a user's face is never erased there, should one have been associated
        meanwhile)."""
        exported, missing = self._call_all(lambda i: self.actors[i].export_faces.remote(face_ids), [source],
                                           self.timeout_s)
        self._require(missing, "read the faces to move")
        if not exported[source]:
            return
        _, missing = self._call_all(lambda i: self.actors[i].import_faces.remote(exported[source]), [target],
                                    self.timeout_s)
        self._require(missing, "store the moved faces")
        moved = [f.record.face_id for f in exported[source]]
        _, missing = self._call_all(lambda i: self.actors[i].drop_moved_faces.remote(moved), [source],
                                    self.timeout_s)
        self._require(missing, "erase the moved faces from their former shard (they are on both: the next "
                               "associate_faces of them finishes the move)")

    def disassociate_faces(self, user_id: str, face_ids: str | Sequence[str]) -> DisassociateFacesResult:
        ids = validation.face_ids(face_ids)
        result: DisassociateFacesResult = self._on_user_shard(
            user_id, lambda i: self.actors[i].disassociate_faces.remote(user_id, ids), "disassociate the faces")
        return result

    def delete_user(self, user_id: str, delete_faces: bool = True) -> DeleteUserResult:
        """As Collection.delete_user: the user's faces are erased with it, or kept unassociated."""
        result: DeleteUserResult = self._on_user_shard(
            user_id, lambda i: self.actors[i].delete_user.remote(user_id, delete_faces), "delete the user")
        self._forget_in_audit(result.deleted_faces)
        return result

    def list_users(self, max_results: int = 100, next_token: str | None = None) -> UsersPage:
        """One page of the users in id order (the shards' pages merged); pass next_token for the next."""
        max_results = validation.count(max_results, "max_results", high=100_000)
        after = read_page_token(next_token, "u")
        answers, missing = self._call_all(lambda i: self.actors[i].users_page.remote(after, max_results + 1),
                                          range(self.shards), self.timeout_s)
        self._require(missing, "list the users")
        merged = sorted((u for shard in sorted(answers) for u in answers[shard].users), key=lambda u: u.user_id)
        page = merged[:max_results]
        return UsersPage(page, page_token("u", page[-1].user_id) if len(merged) > max_results else None)

    def user_ids(self) -> list[str]:
        """Every user of the collection, in id order (each lives on one shard)."""
        answers, missing = self._call_all(lambda i: self.actors[i].user_ids.remote(), range(self.shards),
                                          self.timeout_s)
        self._require(missing, "list the users")
        return sorted(u for users in answers.values() for u in users)

    def search_users_by_embedding(self, embedding: npt.ArrayLike, *, pack: PackIdentity, max_users: int = 10,
                                  threshold: float | None = None, max_fmr: float | None = None,
                                  max_fpir: float | None = None, purpose: str | None = None,
                                  reference: str | None = None, timeout_s: float | None = None,
                                  allow_partial: bool = False) -> ShardedUserSearchResult:
        query = np.asarray(embedding, dtype=np.float32)
        return self._search_users("search_users_by_embedding", query[None, :] if query.ndim == 1 else query, pack,
                                  max_users, threshold, max_fmr, max_fpir, purpose, reference, timeout_s,
                                  allow_partial)

    def search_users_by_image(self, image: Any, max_users: int = 10, threshold: float | None = None, *,
                              max_fmr: float | None = None, max_fpir: float | None = None,
                              purpose: str | None = None, reference: str | None = None,
                              quality_filter: QualityFilterSpec = None, timeout_s: float | None = None,
                              allow_partial: bool = False) -> ShardedUserSearchResult:
        """As Collection.search_users_by_image: users matching the image's largest face (held to
        quality_filter, embedded here by `engine`), searched on every shard."""
        validation.count(max_users, "max_users")
        found = searched_faces(self.engine, image, False, quality_filter)
        result = self._search_users("search_users_by_image", found.embeddings, self.engine.pack, max_users, threshold,
                                    max_fmr, max_fpir, purpose, reference, timeout_s, allow_partial)
        return dataclasses.replace(result, searched_face=found.faces[0], unsearched_faces=found.unsearched)

    def search_users(self, *, user_id: str | None = None, face_id: str | None = None, max_users: int = 10,
                     threshold: float | None = None, max_fmr: float | None = None, max_fpir: float | None = None,
                     purpose: str | None = None, reference: str | None = None, timeout_s: float | None = None,
                     allow_partial: bool = False) -> ShardedUserSearchResult:
        """Users like a stored user (through all its faces; the user left out) or a stored face."""
        if (user_id is None) == (face_id is None):
            raise ValueError("give exactly one of user_id= and face_id=")
        if face_id is not None:
            query = self._embedding_of_face(face_id)
            result = self._search_users("search_users", query, self.pack, max_users, threshold, max_fmr, max_fpir,
                                        purpose, reference, timeout_s, allow_partial, exclude_face_id=face_id)
            return dataclasses.replace(result, searched_face_id=face_id)
        assert user_id is not None
        vectors = self._on_user_shard(user_id, lambda i: self.actors[i].embeddings_of_user.remote(user_id), "read the user")
        if vectors is None:
            raise UserNotFoundError(f"user {user_id!r} is not in collection {self.collection_id!r}")
        if len(vectors) == 0:  # nothing to search with: logged with no candidates, as a Collection logs it
            choice, answered, _, size = self._choose(self.timeout_s, threshold, max_fmr, max_fpir, purpose, reference)
            self._record("search_users", choice, [], purpose, reference, answered, self.timeout_s)
            return ShardedUserSearchResult([], choice.value, self.pack.ref, choice, searched_user_id=user_id,
                                           searched_faces=size)
        result = self._search_users("search_users", vectors, self.pack, max_users, threshold, max_fmr, max_fpir,
                                    purpose, reference, timeout_s, allow_partial, exclude_user_id=user_id)
        return dataclasses.replace(result, searched_user_id=user_id)

    def _search_users(self, operation: str, queries: FloatArray, pack: PackIdentity, max_users: int,
                      threshold: float | None, max_fmr: float | None, max_fpir: float | None, purpose: str | None,
                      reference: str | None, timeout_s: float | None, allow_partial: bool,
                      exclude_user_id: str | None = None, exclude_face_id: str | None = None
                      ) -> ShardedUserSearchResult:
        max_users = validation.count(max_users, "max_users")
        timeout = self.timeout_s if timeout_s is None else timeout_s
        choice, shards, missing, size = self._choose(timeout, threshold, max_fmr, max_fpir, purpose, reference)
        answers, missing = self._gather(lambda i: self.actors[i].search_users.remote(
            queries, pack, max_users, choice.value, exclude_user_id, exclude_face_id),
            shards, missing, timeout, allow_partial)
        matches: list[UserMatch] = [m for shard in sorted(answers) for m in answers[shard]]
        matches.sort(key=lambda m: (-m.similarity, m.user.user_id))
        matches = matches[:max_users]
        self._record(operation, choice, [m.face.face_id for m in matches], purpose, reference, sorted(answers),
                     timeout)
        return ShardedUserSearchResult(matches, choice.value, self.pack.ref, choice, partial=bool(missing),
                                       missing_shards=missing, searched_faces=size)

    # -- ingestion ledger -------------------------------------------------------------------------

    def ingested(self) -> set[str]:
        """Content hashes of every image ingestion has stored (faces or none), over all shards."""
        answers, missing = self._call_all(lambda i: self.actors[i].ingested.remote(), range(self.shards), self.timeout_s)
        self._require(missing, "read what was ingested")
        return {h for hashes in answers.values() for h in hashes}


def _implements_the_contract(collection: ShardedCollection) -> FaceCollection:
    return collection  # mypy checks here that ShardedCollection is a FaceCollection
