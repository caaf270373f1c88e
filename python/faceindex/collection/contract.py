"""FaceCollection: what every kind of collection offers (faces, users, searches, listings, the audit
log), so that the rooms above (the service, video, the CLI) are written once against it.
Collection implements it; so does distributed's ShardedCollection, with the same results for the
same faces (each module ends with a function through which mypy checks its class against this
Protocol). A new collection operation is declared here, then written in both.

Idempotent writes are part of the contract: index_faces(write_id=) names a write so that sending
it again (after a timeout, a lost answer, a shard that did not answer) answers the faces the first
try stored instead of storing them twice; index_embeddings(face_ids=) does the same for embeddings
(an id already stored refuses the call with FaceIdTakenError: the caller learns its faces landed).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any, Literal, Protocol, overload

import numpy.typing as npt

from faceindex.collection.audit import AuditEntry
from faceindex.collection.quality_filter import QualityFilterSpec
from faceindex.collection.results import (
    AssociateFacesResult,
    DeleteFacesResult,
    DeleteUserResult,
    DisassociateFacesResult,
    FaceRecord,
    FaceSearchResult,
    FacesPage,
    IndexFacesResult,
    UsersPage,
    UserSearchResult,
)
from faceindex.collection.state import PackIdentity
from faceindex.engine import FaceEngine
from faceindex.types import Face, PackInfo


class FaceCollection(Protocol):
    """A collection of faces bound to one model pack. Every search takes at most one of threshold=,
    max_fmr= and max_fpir= (without them: FPIR 1% for the collection's size, no looser than FMR 1e-4)
    and writes one entry, with purpose= and reference=, to the audit log. A search by image searches
    with the image's largest face (every face with all_faces=True), held to quality_filter first
    (FaceQualityError when it fails; NoFaceError when the image holds no face)."""

    @property
    def collection_id(self) -> str: ...

    @property
    def pack(self) -> PackInfo: ...

    @property
    def engine(self) -> FaceEngine: ...

    def __len__(self) -> int: ...

    def close(self) -> None: ...

    # -- faces ----------------------------------------------------------------------------

    def index_faces(self, image: Any, external_image_id: str | None = None, max_faces: int | None = None,
                    quality_filter: QualityFilterSpec = "auto", *, write_id: str | None = None) -> IndexFacesResult: ...

    def index_embeddings(self, embeddings: npt.ArrayLike, *, pack: PackIdentity, faces: Sequence[Face] | None = None,
                         external_image_id: None | str | Sequence[str | None] = None,
                         image_id: None | str | Sequence[str] = None, image_size: tuple[int, int] | None = None,
                         face_ids: Sequence[str] | None = None) -> list[FaceRecord]: ...

    def list_faces(self, max_results: int = 1000, next_token: str | None = None, *,
                   user_id: str | None = None, external_image_id: str | None = None) -> FacesPage: ...

    def iter_faces(self, *, user_id: str | None = None, external_image_id: str | None = None,
                   page_size: int = 1000) -> Iterator[FaceRecord]: ...

    def get_faces(self, face_ids: str | Sequence[str]) -> dict[str, FaceRecord]: ...

    def delete_faces(self, face_ids: str | Sequence[str], *, keep_user_faces: bool = False) -> DeleteFacesResult: ...

    # -- searching ------------------------------------------------------------------------

    @overload
    def search_faces_by_image(self, image: Any, max_faces: int = 10, threshold: float | None = None,
                              all_faces: Literal[False] = False, *, max_fmr: float | None = None,
                              max_fpir: float | None = None, purpose: str | None = None,
                              reference: str | None = None, quality_filter: QualityFilterSpec = None
                              ) -> FaceSearchResult: ...

    @overload
    def search_faces_by_image(self, image: Any, max_faces: int = 10, threshold: float | None = None, *,
                              all_faces: Literal[True], max_fmr: float | None = None, max_fpir: float | None = None,
                              purpose: str | None = None, reference: str | None = None,
                              quality_filter: QualityFilterSpec = None) -> Sequence[FaceSearchResult]: ...

    def search_faces(self, face_id: str, max_faces: int = 10, threshold: float | None = None, *,
                     max_fmr: float | None = None, max_fpir: float | None = None, purpose: str | None = None,
                     reference: str | None = None) -> FaceSearchResult: ...

    def search_faces_by_embedding(self, embedding: npt.ArrayLike, *, pack: PackIdentity, max_faces: int = 10,
                                  threshold: float | None = None, max_fmr: float | None = None,
                                  max_fpir: float | None = None, purpose: str | None = None,
                                  reference: str | None = None) -> FaceSearchResult: ...

    def audit_log(self, since: datetime | float | None = None, limit: int | None = None) -> list[AuditEntry]: ...

    # -- users ----------------------------------------------------------------------------

    def create_user(self, user_id: str) -> None: ...

    def delete_user(self, user_id: str, delete_faces: bool = True) -> DeleteUserResult: ...

    def list_users(self, max_results: int = 100, next_token: str | None = None) -> UsersPage: ...

    def associate_faces(self, user_id: str, face_ids: str | Sequence[str],
                        user_match_threshold: float | None = None, *, max_fmr: float | None = None,
                        purpose: str | None = None, reference: str | None = None) -> AssociateFacesResult: ...

    def disassociate_faces(self, user_id: str, face_ids: str | Sequence[str]) -> DisassociateFacesResult: ...

    def search_users(self, *, user_id: str | None = None, face_id: str | None = None, max_users: int = 10,
                     threshold: float | None = None, max_fmr: float | None = None, max_fpir: float | None = None,
                     purpose: str | None = None, reference: str | None = None) -> UserSearchResult: ...

    def search_users_by_image(self, image: Any, max_users: int = 10, threshold: float | None = None, *,
                              max_fmr: float | None = None, max_fpir: float | None = None,
                              purpose: str | None = None, reference: str | None = None,
                              quality_filter: QualityFilterSpec = None) -> UserSearchResult: ...

    def search_users_by_embedding(self, embedding: npt.ArrayLike, *, pack: PackIdentity, max_users: int = 10,
                                  threshold: float | None = None, max_fmr: float | None = None,
                                  max_fpir: float | None = None, purpose: str | None = None,
                                  reference: str | None = None) -> UserSearchResult: ...
