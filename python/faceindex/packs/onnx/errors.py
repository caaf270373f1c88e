"""What can go wrong with ONNX model files, as Python exceptions and one warning."""

from __future__ import annotations


class ModelFileError(ValueError):
    """A model file cannot be used: unreadable, not ONNX, or not a model faceindex can run."""


class ModelHashError(ModelFileError):
    """A file carries the name of a known official model but not its content (sha256)."""


class UnknownModelError(ModelFileError):
    """The ONNX signature (inputs and outputs) matches no detector or recognizer family we know."""


class PackNotFoundError(FileNotFoundError):
    """No pack folder of that name under the models directory, or it lacks a detector or recognizer."""


class UnverifiedModelWarning(UserWarning):
    """A model file is not in faceindex's list of known files: it is loaded, but nothing vouches for it."""
