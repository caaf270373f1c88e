"""The dlib model pack: dlib's CC0 models converted to ONNX on first use."""

from faceindex.packs.dlib.model_files import ModelFileError
from faceindex.packs.dlib.pack import DlibPack
from faceindex.packs.dlib.serialization import DlibFormatError

__all__ = ["DlibFormatError", "DlibPack", "ModelFileError"]
