"""Typed results of collection operations (Rekognition's response shapes, snake_case)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, Optional


from faceindex.types import Face, FloatArray

BoundingBox = tuple[float, float, float, float]  # x1, y1, x2, y2 in pixels of the indexed image

UnindexedReason = Literal[
    "EXCEEDS_MAX_FACES",
    "SMALL_BOUNDING_BOX",
    "LOW_CONFIDENCE",
    "LOW_SHARPNESS",
    "LOW_BRIGHTNESS",
    "EXTREME_POSE",
]
DeletionFailure = Literal["FACE_NOT_FOUND"]
AssociationFailure = Literal["FACE_NOT_FOUND", "ASSOCIATED_TO_A_DIFFERENT_USER", "LOW_MATCH_CONFIDENCE"]
DisassociationFailure = Literal["FACE_NOT_FOUND", "ASSOCIATED_TO_A_DIFFERENT_USER"]


@dataclass(frozen=True)
class FaceQuality:
    face_size: float  # shorter side of the box, pixels
    sharpness: float  # variance of the Laplacian at a fixed scale
    brightness: float  # mean luma, 0..1
    pose: Optional[tuple[float, float, float]] = None  # yaw, pitch, roll (degrees) where the pack gives it


@dataclass(frozen=True)
class FaceRecord:
    """A face stored in a collection."""

    face_id: str  # UUID assigned when the face was indexed
    external_image_id: Optional[str]  # the caller's name for the image
    image_id: str  # UUID of the index_faces call (one image) that stored it
    bbox: BoundingBox
    confidence: float  # detector score
    landmarks: FloatArray = field(compare=False, repr=False)  # 5x2, pixels
    quality: FaceQuality = field(compare=False)
    user_id: Optional[str]
    created_at: datetime


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
    pack: str
    pack_version: str


@dataclass(frozen=True)
class FaceMatch:
    similarity: float  # cosine similarity of the embeddings
    face: FaceRecord


@dataclass(frozen=True)
class FaceSearchResult:
    """Matches for one searched face, best first, all at or above `threshold`."""

    face_matches: list[FaceMatch]
    threshold: float  # the similarity threshold the matches were judged against
    pack: str
    pack_version: str
    searched_face: Optional[Face] = field(default=None, compare=False)  # the face found in the image
    searched_face_id: Optional[str] = None  # search_faces: the stored face searched with

    @property
    def best(self) -> Optional[FaceMatch]:
        return self.face_matches[0] if self.face_matches else None


@dataclass(frozen=True)
class FacesPage:
    faces: list[FaceRecord]
    next_token: Optional[str]  # pass to list_faces for the next page; None after the last


@dataclass(frozen=True)
class UnsuccessfulFaceDeletion:
    face_id: str
    reasons: tuple[DeletionFailure, ...]


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
    next_token: Optional[str]


@dataclass(frozen=True)
class UnsuccessfulFaceAssociation:
    face_id: str
    reasons: tuple[AssociationFailure, ...]
    user_id: Optional[str] = None  # the user the face belongs to, for ASSOCIATED_TO_A_DIFFERENT_USER
    similarity: Optional[float] = None  # best similarity to the user's faces, for LOW_MATCH_CONFIDENCE


@dataclass(frozen=True)
class AssociateFacesResult:
    user_id: str
    associated_faces: list[str]
    unsuccessful_face_associations: list[UnsuccessfulFaceAssociation]
    threshold: float  # the user match threshold new faces were judged against
    pack: str
    pack_version: str


@dataclass(frozen=True)
class UnsuccessfulFaceDisassociation:
    face_id: str
    reasons: tuple[DisassociationFailure, ...]
    user_id: Optional[str] = None


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


@dataclass(frozen=True)
class UserSearchResult:
    user_matches: list[UserMatch]
    threshold: float
    pack: str
    pack_version: str
    searched_face: Optional[Face] = field(default=None, compare=False)
    searched_face_id: Optional[str] = None
    searched_user_id: Optional[str] = None

    @property
    def best(self) -> Optional[UserMatch]:
        return self.user_matches[0] if self.user_matches else None


@dataclass(frozen=True)
class CollectionDescription:
    collection_id: str
    pack: str
    pack_version: str
    embedding_size: int
    default_threshold: float
    face_count: int
    user_count: int
    created_at: datetime
    path: str
    database_bytes: int  # database, WAL and shared-memory files
    cache_bytes: int  # the FlatIndex cache file(s)
