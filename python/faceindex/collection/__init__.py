"""Face collections: a Rekognition-style API on an embedded, crash-safe store (SQLite + FlatIndex cache)."""

from faceindex.collection.collection import Collection
from faceindex.collection.home import Collections, default_home
from faceindex.collection.index_cache import OpenReport
from faceindex.collection.quality_filter import QUALITY_LEVELS, QualityFilter
from faceindex.collection.results import (
    AssociateFacesResult,
    CollectionDescription,
    DeleteFacesResult,
    DeleteUserResult,
    DisassociateFacesResult,
    FaceMatch,
    FaceRecord,
    FaceSearchResult,
    FacesPage,
    IndexFacesResult,
    UnindexedFace,
    UnsuccessfulFaceAssociation,
    UnsuccessfulFaceDeletion,
    UnsuccessfulFaceDisassociation,
    User,
    UserMatch,
    UsersPage,
    UserSearchResult,
)
from faceindex.errors import (
    CollectionError,
    CollectionExistsError,
    CollectionFileError,
    CollectionKeyError,
    CollectionNotFoundError,
    ErasureIncompleteError,
    FaceNotFoundError,
    PackMismatchError,
    UserExistsError,
    UserNotFoundError,
)

__all__ = [
    "AssociateFacesResult", "Collection", "CollectionDescription", "CollectionError", "CollectionExistsError",
    "CollectionFileError", "CollectionKeyError", "CollectionNotFoundError", "Collections", "DeleteFacesResult", "DeleteUserResult",
    "DisassociateFacesResult", "ErasureIncompleteError", "FaceMatch", "FaceNotFoundError",
    "FaceRecord", "FaceSearchResult", "FacesPage", "IndexFacesResult", "OpenReport",
    "PackMismatchError", "QUALITY_LEVELS", "QualityFilter", "UnindexedFace", "UnsuccessfulFaceAssociation",
    "UnsuccessfulFaceDeletion", "UnsuccessfulFaceDisassociation", "User", "UserExistsError", "UserMatch",
    "UserNotFoundError", "UserSearchResult", "UsersPage", "default_home",
]
