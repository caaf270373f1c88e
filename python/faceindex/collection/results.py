"""Typed results of collection operations (Rekognition's response shapes, snake_case)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from faceindex.types import NOT_NORMALISED, Face, PackRef, ScoreNormalisation, ThresholdChoice

# The quality checks a face can fail (collection/quality_filter.py), for indexing and searching alike.
QualityReason = Literal[
    "SMALL_BOUNDING_BOX",
    "LOW_CONFIDENCE",
    "LOW_SHARPNESS",
    "LOW_BRIGHTNESS",
    "EXTREME_POSE",
]
UnindexedReason = Literal["EXCEEDS_MAX_FACES", QualityReason]
# Why a face of a searched image was not searched (Rekognition's UnsearchedFaceReason, those faceindex gives).
UnsearchedReason = Literal["FACE_NOT_LARGEST", QualityReason]
DeletionFailure = Literal["FACE_NOT_FOUND", "ASSOCIATED_TO_AN_EXISTING_USER"]
AssociationFailure = Literal["FACE_NOT_FOUND", "ASSOCIATED_TO_A_DIFFERENT_USER", "LOW_MATCH_CONFIDENCE"]
DisassociationFailure = Literal["FACE_NOT_FOUND", "ASSOCIATED_TO_A_DIFFERENT_USER"]


@dataclass(frozen=True)
class FaceRecord:
    """A face stored in a collection: the detected face (box, score, landmarks, quality,
    in pixels of the indexed image; never its embedding) and where it is filed."""

    face_id: str  # UUID assigned when the face was indexed
    external_image_id: str | None  # the caller's name for the image
    image_id: str  # UUID of the index_faces call (one image) that stored it
    face: Face = field(compare=False)
    user_id: str | None
    created_at: datetime
    # The indexed image's size in pixels, so the box can be given as ratios of it; None for
    # faces stored from embeddings or indexed before collections kept it (schema 3).
    image_width: int | None = None
    image_height: int | None = None


@dataclass(frozen=True)
class UnindexedFace:
    """A detected face that index_faces did not store, and why."""

    reasons: tuple[UnindexedReason, ...]
    face: Face = field(compare=False)


@dataclass(frozen=True)
class IndexFacesResult:
    face_records: list[FaceRecord]  # stored faces, largest first
    unindexed_faces: list[UnindexedFace]
    image_id: str
    pack: PackRef


@dataclass(frozen=True)
class UnsearchedFace:
    """A face of a searched image that was not searched with, and why (not the largest, or below
    the quality filter asked for)."""

    reasons: tuple[UnsearchedReason, ...]
    face: Face = field(compare=False)


@dataclass(frozen=True)
class FaceMatch:
    similarity: float  # cosine similarity of the embeddings
    face: FaceRecord
    score: float | None = None  # the AS-norm z it was ranked and judged by; None: by the similarity


@dataclass(frozen=True)
class FaceSearchResult:
    """Matches for one searched face, best first, all at or above `threshold` (on their `score` where
    `normalisation` was applied, else on their similarity)."""

    face_matches: list[FaceMatch]
    threshold: float  # the threshold the matches were judged against (threshold_choice.score: its scale)
    pack: PackRef
    threshold_choice: ThresholdChoice  # how it was chosen; estimated FMR and FPIR at it
    searched_face: Face | None = field(default=None, compare=False)  # the face found in the image
    searched_face_id: str | None = None  # search_faces: the stored face searched with
    # search by image: the image's faces not searched with, largest first
    unsearched_faces: list[UnsearchedFace] = field(default_factory=list, compare=False)
    # The most similar stored face whatever the threshold: the best match, or, when none reached
    # the threshold, a near miss for people to judge (not a match, not an audited candidate).
    nearest: FaceMatch | None = field(default=None, compare=False)
    normalisation: ScoreNormalisation = NOT_NORMALISED  # AS-norm against which cohort, or why not

    @property
    def best(self) -> FaceMatch | None:
        return self.face_matches[0] if self.face_matches else None


@dataclass(frozen=True)
class FacesPage:
    faces: list[FaceRecord]
    next_token: str | None  # pass to list_faces for the next page; None after the last


@dataclass(frozen=True)
class UnsuccessfulFaceDeletion:
    face_id: str
    reasons: tuple[DeletionFailure, ...]
    user_id: str | None = None  # the face's user, for ASSOCIATED_TO_AN_EXISTING_USER


@dataclass(frozen=True)
class DeleteFacesResult:
    deleted_faces: list[str]
    unsuccessful_face_deletions: list[UnsuccessfulFaceDeletion]


@dataclass(frozen=True)
class User:
    user_id: str
    face_count: int
    created_at: datetime


@dataclass(frozen=True)
class UsersPage:
    users: list[User]
    next_token: str | None


@dataclass(frozen=True)
class UnsuccessfulFaceAssociation:
    face_id: str
    reasons: tuple[AssociationFailure, ...]
    user_id: str | None = None  # the user the face belongs to, for ASSOCIATED_TO_A_DIFFERENT_USER
    similarity: float | None = None  # best similarity to the user's faces, for LOW_MATCH_CONFIDENCE
    score: float | None = None  # the best AS-norm z it was judged by (None: not normalised)


@dataclass(frozen=True)
class AssociateFacesResult:
    user_id: str
    associated_faces: list[str]
    unsuccessful_face_associations: list[UnsuccessfulFaceAssociation]
    threshold: float  # the user match threshold new faces were judged against
    pack: PackRef
    threshold_choice: ThresholdChoice
    normalisation: ScoreNormalisation = NOT_NORMALISED


@dataclass(frozen=True)
class UnsuccessfulFaceDisassociation:
    face_id: str
    reasons: tuple[DisassociationFailure, ...]
    user_id: str | None = None


@dataclass(frozen=True)
class DisassociateFacesResult:
    user_id: str
    disassociated_faces: list[str]
    unsuccessful_face_disassociations: list[UnsuccessfulFaceDisassociation]


@dataclass(frozen=True)
class DeleteUserResult:
    user_id: str
    deleted_faces: list[str]  # erased with the user (delete_faces=True)
    disassociated_faces: list[str]  # kept, no longer the user's (delete_faces=False)


@dataclass(frozen=True)
class UserMatch:
    similarity: float  # the user's best face against the searched face(s)
    user: User
    face: FaceRecord  # the user's face that matched best
    score: float | None = None  # its AS-norm z, by which users were ranked (None: by the similarity)


@dataclass(frozen=True)
class UserSearchResult:
    user_matches: list[UserMatch]
    threshold: float
    pack: PackRef
    threshold_choice: ThresholdChoice
    searched_face: Face | None = field(default=None, compare=False)
    searched_face_id: str | None = None
    searched_user_id: str | None = None
    unsearched_faces: list[UnsearchedFace] = field(default_factory=list, compare=False)
    normalisation: ScoreNormalisation = NOT_NORMALISED

    @property
    def best(self) -> UserMatch | None:
        return self.user_matches[0] if self.user_matches else None


@dataclass(frozen=True)
class CollectionDescription:
    """A collection's size, pack and files, and the thresholds its decisions use by default."""

    collection_id: str
    pack: PackRef
    embedding_size: int
    default_threshold: float  # the pack's own placeholder: decisions use compare_threshold / search_threshold
    face_count: int
    user_count: int
    created_at: datetime
    path: str
    database_bytes: int  # database, WAL and shared-memory files
    cache_bytes: int  # the FlatIndex cache file(s)
    encrypted: bool = False  # database and cache encrypted at rest (Collections(key=...))
    # The thresholds in force by default, chosen by error rate (faceindex.thresholds): a 1:1
    # decision (associating a face with a user) and a search of this collection's faces.
    compare_threshold: ThresholdChoice | None = None
    search_threshold: ThresholdChoice | None = None
