"""Exceptions of collections: each names what was wrong and where."""

from __future__ import annotations


class CollectionError(Exception):
    """Base of every error a collection raises on its own account."""


class CollectionNotFoundError(CollectionError, LookupError):
    """No collection of that id under this home."""


class CollectionExistsError(CollectionError, FileExistsError):
    """create_collection with an id already in use."""


class FaceNotFoundError(CollectionError, LookupError):
    """A face id that is not in the collection."""


class UserNotFoundError(CollectionError, LookupError):
    """A user id that is not in the collection."""


class UserExistsError(CollectionError, ValueError):
    """create_user with an id already in use."""


class PackMismatchError(CollectionError, ValueError):
    """Embeddings or an engine from another model pack than the collection's."""


class CollectionFileError(CollectionError, ValueError):
    """The collection's database is not one of ours, is damaged, or is from a newer faceindex."""


class ErasureIncompleteError(CollectionError, RuntimeError):
    """Faces were deleted, but their bytes could not yet be wiped from every file.

    The deletion itself is committed; the wipe finishes on the next write or open.
    """
