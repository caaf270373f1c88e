"""faceindex: self-hosted face recognition over a C++ core."""

from faceindex.collection import (
    Collection,
    CollectionError,
    CollectionExistsError,
    CollectionFileError,
    CollectionNotFoundError,
    Collections,
    ErasureIncompleteError,
    FaceNotFoundError,
    PackMismatchError,
    QualityFilter,
    UserExistsError,
    UserNotFoundError,
)
from faceindex.engine import FaceEngine, NoFaceError
from faceindex.flat_index import FlatIndex, IndexFileError, set_simd_level, simd_level
from faceindex.images import ImageError, load_image
from faceindex.runtime import build_info, get_num_threads, set_num_threads
from faceindex.types import Comparison, Face, PackInfo

__version__: str = build_info()["version"]

__all__ = [
    "__version__",
    "Collection",
    "CollectionError",
    "CollectionExistsError",
    "CollectionFileError",
    "CollectionNotFoundError",
    "Collections",
    "ErasureIncompleteError",
    "FaceNotFoundError",
    "PackMismatchError",
    "QualityFilter",
    "UserExistsError",
    "UserNotFoundError",
    "Comparison",
    "Face",
    "FaceEngine",
    "FlatIndex",
    "IndexFileError",
    "ImageError",
    "NoFaceError",
    "PackInfo",
    "build_info",
    "get_num_threads",
    "load_image",
    "set_num_threads",
    "set_simd_level",
    "simd_level",
]
