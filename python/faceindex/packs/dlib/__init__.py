"""The dlib model pack: dlib's CC0 models converted to ONNX on first use."""

from faceindex.errors import DlibFormatError, ModelFileError
from faceindex.packs.dlib.pack import DlibPack

__all__ = ["DlibFormatError", "DlibPack", "ModelFileError"]
