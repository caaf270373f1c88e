"""Every error faceindex raises on its own account: one root, a small tree, and the
`faceindex` command's exit code for each.

    FaceIndexError
      InputError (ValueError)            bad input from the caller: exit 4
        ImageError, NoFaceError, FaceQualityError, IndexFileError, CalibrationError, CollectionFileError
        UsageError                        a call that needs another argument to be answered: exit 2
        VideoError                        a video or stream that cannot be read
          VideoTimeoutError (TimeoutError) a source that does not answer in time
          VideoNotFoundError (FileNotFoundError): exit 3
      ModelError                          a model file or pack that cannot be used: exit 4
        ModelFileError (ValueError)       ModelHashError, UnknownModelError, DlibFormatError
        PackNotFoundError (FileNotFoundError): exit 3
      CollectionError                     collections: exit 1 unless said otherwise
        CollectionNotFoundError, FaceNotFoundError, UserNotFoundError (LookupError): exit 3
        CollectionExistsError, UserExistsError, PackMismatchError: exit 5
        CollectionKeyError (ValueError): exit 4
        ErasureIncompleteError (RuntimeError)

The second bases keep the built-in meaning (a missing face is a LookupError, a bad
image a ValueError), so code that catches those keeps working. This module imports
nothing from faceindex: the compiled core raises IndexFileError from here.
"""

from __future__ import annotations

EXIT_OK, EXIT_PARTIAL, EXIT_USAGE, EXIT_NOT_FOUND, EXIT_BAD_INPUT, EXIT_CONFLICT = 0, 1, 2, 3, 4, 5


class FaceIndexError(Exception):
    """Root of every error faceindex raises on its own account."""

    exit_code = EXIT_PARTIAL


# -- input -----------------------------------------------------------------------------


class InputError(FaceIndexError, ValueError):
    """Something the caller handed in is not usable as it is."""

    exit_code = EXIT_BAD_INPUT


class UsageError(InputError):
    """A call that cannot be answered as it was made: it needs an argument it was not given
    (the message says which), or two that do not go together."""

    exit_code = EXIT_USAGE


class ImageError(InputError):
    """The image could not be read or is not an image faceindex can use."""


class NoFaceError(InputError):
    """An image given for comparison or search holds no face."""


class FaceQualityError(InputError):
    """The face a search by image searches with (the largest in the image) fails the quality filter
    asked for; `reasons` are the checks it fails (LOW_BRIGHTNESS, SMALL_BOUNDING_BOX, ...)."""

    def __init__(self, message: str, reasons: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.reasons = reasons


class IndexFileError(InputError):
    """A FlatIndex file that is truncated, altered, or not a FlatIndex file."""


class CalibrationError(InputError):
    """A calibration table is missing or damaged, or was asked for a rate it cannot resolve."""


class VideoError(InputError):
    """A video file, URL or camera that cannot be opened or decoded: not a video, no video
    stream, a codec FFmpeg cannot decode, frames over max_pixels, or no frames at all."""


class VideoNotFoundError(VideoError, FileNotFoundError):
    """A video file that does not exist."""

    exit_code = EXIT_NOT_FOUND


class VideoTimeoutError(VideoError, TimeoutError):
    """A video source (a URL, a camera) that did not answer within the timeout."""


class VideoDecodeWarning(UserWarning):
    """A video that was damaged part-way: results stop where the damage starts, and this says where."""


# -- models --------------------------------------------------------------------------------


class ModelError(FaceIndexError):
    """A model file or pack cannot be used."""

    exit_code = EXIT_BAD_INPUT


class ModelFileError(ModelError, ValueError):
    """A model file cannot be used: missing, unreadable, not ONNX, or not a model faceindex can run."""


class ModelHashError(ModelFileError):
    """A file carries the name of a known model but not its content (sha256)."""


class UnknownModelError(ModelFileError):
    """The ONNX signature (inputs and outputs) matches no detector or recognizer family we know."""


class DlibFormatError(ModelFileError):
    """A dlib .dat file that is truncated or not what its reader expects."""


class PackNotFoundError(ModelError, FileNotFoundError):
    """No pack folder of that name under the models directory, or it lacks a detector or recognizer."""

    exit_code = EXIT_NOT_FOUND


class QuantizationDataError(ModelError, FileNotFoundError):
    """precision int8 needs calibration photos or videos (to quantize a network) and none were found."""

    exit_code = EXIT_NOT_FOUND


class UnverifiedModelWarning(UserWarning):
    """A model file is not in faceindex's list of known files: it is loaded, but nothing vouches for it."""


# -- collections -------------------------------------------------------------------------------


class CollectionError(FaceIndexError):
    """Base of every error a collection raises on its own account."""


class CollectionNotFoundError(CollectionError, LookupError):
    """No collection of that id under this home."""

    exit_code = EXIT_NOT_FOUND


class CollectionExistsError(CollectionError, FileExistsError):
    """create_collection with an id already in use."""

    exit_code = EXIT_CONFLICT


class FaceNotFoundError(CollectionError, LookupError):
    """A face id that is not in the collection."""

    exit_code = EXIT_NOT_FOUND


class UserNotFoundError(CollectionError, LookupError):
    """A user id that is not in the collection."""

    exit_code = EXIT_NOT_FOUND


class UserExistsError(CollectionError, ValueError):
    """create_user with an id already in use."""

    exit_code = EXIT_CONFLICT


class FaceIdTakenError(CollectionError, ValueError):
    """index_embeddings(face_ids=) named a face id the collection already holds (nothing was stored)."""

    exit_code = EXIT_CONFLICT


class PackMismatchError(CollectionError, ValueError):
    """Embeddings or an engine from another model pack than the collection's."""

    exit_code = EXIT_CONFLICT


class CollectionFileError(CollectionError, InputError):
    """The collection's database is not one of ours, is damaged, or is from a newer faceindex."""

    exit_code = EXIT_BAD_INPUT


class CollectionKeyError(CollectionError, ValueError):
    """An encryption key that cannot open the collection: missing for an encrypted one, given for a
    plain one, the wrong key, or a key file that is absent, of the wrong size or readable by others.
    The message never holds the key."""

    exit_code = EXIT_BAD_INPUT


class ErasureIncompleteError(CollectionError, RuntimeError):
    """Faces were deleted, but their bytes could not yet be wiped from every file.

    The deletion itself is committed; the wipe finishes on the next write or open.
    """


__all__ = [
    "CalibrationError", "CollectionError", "CollectionExistsError", "CollectionFileError", "CollectionKeyError",
    "CollectionNotFoundError", "DlibFormatError",
    "ErasureIncompleteError", "FaceIndexError", "FaceNotFoundError", "FaceQualityError", "ImageError", "IndexFileError", "InputError",
    "ModelError", "ModelFileError", "ModelHashError", "NoFaceError", "PackMismatchError", "PackNotFoundError",
    "UnknownModelError", "UnverifiedModelWarning", "UsageError", "UserExistsError", "UserNotFoundError",
    "VideoDecodeWarning",
    "VideoError", "VideoNotFoundError", "VideoTimeoutError",
]
