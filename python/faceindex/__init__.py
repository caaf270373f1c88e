"""faceindex: self-hosted face recognition over a C++ core."""

from faceindex.collection import Collection, Collections, QualityFilter
from faceindex.detections import BatchDetections, Detections
from faceindex.engine import FaceEngine
from faceindex.errors import (
    CalibrationError,
    CollectionError,
    CollectionExistsError,
    CollectionFileError,
    CollectionKeyError,
    CollectionNotFoundError,
    DlibFormatError,
    ErasureIncompleteError,
    FaceIndexError,
    FaceNotFoundError,
    ImageError,
    IndexFileError,
    InputError,
    ModelError,
    ModelFileError,
    ModelHashError,
    NoFaceError,
    PackMismatchError,
    PackNotFoundError,
    UnknownModelError,
    UnverifiedModelWarning,
    UserExistsError,
    UserNotFoundError,
)
from faceindex.flat_index import FlatIndex, set_simd_level, simd_level
from faceindex.images import load_image
from faceindex.runtime import BuildInfo, build_info, get_num_threads, set_num_threads
from faceindex.types import Comparison, Face, PackInfo, PackRef, RateEstimate, ThresholdChoice

__version__: str = build_info()["version"]

__all__ = [
    "__version__",
    "BatchDetections",
    "BuildInfo",
    "CalibrationError",
    "Collection",
    "CollectionError",
    "CollectionExistsError",
    "CollectionFileError",
    "CollectionKeyError",
    "CollectionNotFoundError",
    "Collections",
    "Comparison",
    "Detections",
    "DlibFormatError",
    "ErasureIncompleteError",
    "Face",
    "FaceEngine",
    "FaceIndexError",
    "FaceNotFoundError",
    "FlatIndex",
    "ImageError",
    "IndexFileError",
    "InputError",
    "ModelError",
    "ModelFileError",
    "ModelHashError",
    "NoFaceError",
    "PackInfo",
    "PackMismatchError",
    "PackNotFoundError",
    "PackRef",
    "QualityFilter",
    "RateEstimate",
    "ThresholdChoice",
    "UnknownModelError",
    "UnverifiedModelWarning",
    "UserExistsError",
    "UserNotFoundError",
    "build_info",
    "get_num_threads",
    "load_image",
    "set_num_threads",
    "set_simd_level",
    "simd_level",
]
