"""What each access key may do: least privilege from the credentials file.

A key's section may limit it to operations and to collections:

    [search-only]
    aws_access_key_id = AKIAFACEINDEXSEARCH1
    aws_secret_access_key = a-long-random-secret
    operations = Search*, Detect*, CompareFaces, ListFaces
    collections = people, tenant-a-*

operations: Rekognition operation names or patterns with * (Search* is SearchFaces,
SearchFacesByImage, SearchUsers and SearchUsersByImage); collections: collection ids, or
prefixes ending in * (tenant-a-* is every id that starts with tenant-a-). Either left out means
every one. A pattern that names no Rekognition operation is refused when the file is read (a typo
never grants or denies silently). A request outside a key's limits is AccessDeniedException in
AWS's words; ListCollections and ListStreamProcessors list only what the key may use; a request
naming its collection indirectly (a video job, a stream processor, an ARN) is held to the
collection it names.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from faceindex.service.errors import ServiceError

ACCOUNT = "000000000000"
EVERYTHING = ("*",)
_COLLECTION_PATTERN = re.compile(r"[a-zA-Z0-9_.\-]{1,255}\*?|\*")
_OPERATION_PATTERN = re.compile(r"[A-Za-z*]{1,100}")


class PolicyError(ValueError):
    """A key's limits in the credentials file that cannot be read (the message says which)."""


@dataclass(frozen=True)
class AccessPolicy:
    """One key's limits (EVERYTHING: none)."""

    name: str  # the credentials file's section
    key_id: str
    operations: tuple[str, ...] = EVERYTHING
    collections: tuple[str, ...] = EVERYTHING

    def may_call(self, operation: str) -> bool:
        return any(fnmatch.fnmatchcase(operation, pattern) for pattern in self.operations)

    def may_use(self, collection_id: str) -> bool:
        return any(collection_id.startswith(p[:-1]) if p.endswith("*") else collection_id == p
                   for p in self.collections)

    def describe(self) -> str:
        """What the key may do, for the start-up lines (never its secret)."""
        what = "every operation" if self.operations == EVERYTHING else ", ".join(self.operations)
        where = "every collection" if self.collections == EVERYTHING else "collections " + ", ".join(self.collections)
        return f"{self.name} ({self.key_id}): {what} on {where}"

    def user_arn(self) -> str:
        return f"arn:aws:iam::{ACCOUNT}:user/{self.name}"


def read_policy(name: str, key_id: str, operations: str | None, collections: str | None,
                known_operations: Iterable[str]) -> AccessPolicy:
    """A key's policy from its section's `operations` and `collections` values (None: everything);
    each operation pattern must name one of known_operations (when given)."""
    known = list(known_operations)
    ops = _items(operations)
    for pattern in ops:
        if not _OPERATION_PATTERN.fullmatch(pattern):
            raise PolicyError(f"[{name}] operations: {pattern!r} is not an operation name or a pattern with *")
        if known and not any(fnmatch.fnmatchcase(op, pattern) for op in known):
            raise PolicyError(f"[{name}] operations: {pattern!r} names no Rekognition operation")
    ids = _items(collections)
    for pattern in ids:
        if not _COLLECTION_PATTERN.fullmatch(pattern):
            raise PolicyError(f"[{name}] collections: {pattern!r} is not a collection id or a prefix ending in *")
    return AccessPolicy(name, key_id, tuple(ops) if ops else EVERYTHING, tuple(ids) if ids else EVERYTHING)


def _items(value: str | None) -> list[str]:
    if value is None:
        return []
    return [item for item in re.split(r"[,\s]+", value.strip()) if item]


def collection_arn(region: str, collection_id: str) -> str:
    return f"arn:aws:rekognition:{region}:{ACCOUNT}:collection/{collection_id}"


def access_denied(policy: AccessPolicy, operation: str, resource: str | None) -> ServiceError:
    """AccessDeniedException as AWS words it for an identity-based policy that does not allow the call."""
    on = f" on resource: {resource}" if resource is not None else ""
    return ServiceError("AccessDeniedException",
                        f"User: {policy.user_arn()} is not authorized to perform: rekognition:{operation}{on} "
                        f"because no identity-based policy allows the rekognition:{operation} action")


def check_operation(policy: AccessPolicy | None, operation: str, resource: str | None = None) -> None:
    """AccessDeniedException unless the key may call this operation (resource: the ARN the request names)."""
    if policy is not None and not policy.may_call(operation):
        raise access_denied(policy, operation, resource)


def check_collection(policy: AccessPolicy | None, operation: str, collection_id: str, region: str) -> None:
    """AccessDeniedException unless the key may use this collection (for this operation)."""
    if policy is not None and not policy.may_use(collection_id):
        raise access_denied(policy, operation, collection_arn(region, collection_id))


def visible(policy: AccessPolicy | None, collection_ids: Sequence[str]) -> list[str]:
    """The collections of a listing that the key may see."""
    return list(collection_ids) if policy is None else [c for c in collection_ids if policy.may_use(c)]


def collection_of_request(params: dict[str, object]) -> str | None:
    """The collection a request names directly (CollectionId, or a stream processor's FaceSearch settings)."""
    direct = params.get("CollectionId")
    if isinstance(direct, str):
        return direct
    settings = params.get("Settings")
    if isinstance(settings, dict):
        face_search = settings.get("FaceSearch")
        if isinstance(face_search, dict) and isinstance(face_search.get("CollectionId"), str):
            return str(face_search["CollectionId"])
    return None
