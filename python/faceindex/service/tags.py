"""Tags of collections (CreateCollection Tags, TagResource, UntagResource, ListTagsForResource),
kept with the collection: a file in its folder (tags.json, 0600), written whole (temp file, fsync,
rename), gone with the collection. ARNs are faceindex's own:

    arn:aws:rekognition:<--region>:000000000000:collection/<id>
    arn:aws:rekognition:<--region>:000000000000:streamprocessor/<name>

(the "aws:rekognition:..." form CreateCollection answers, without "arn:", is accepted too).
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from faceindex.collection import permissions
from faceindex.paths import fsync_directory
from faceindex.service.access import ACCOUNT
from faceindex.service.errors import ServiceError, invalid_parameter, not_found

TAGS_NAME = "tags.json"
MAX_TAGS = 50  # Rekognition's quota of tags per resource
_ARN = re.compile(r"(?:arn:)?aws:rekognition:(?P<region>[a-z0-9-]+):(?P<account>[0-9]{12}):"
                  r"(?P<kind>collection|streamprocessor)/(?P<name>[A-Za-z0-9_.\-]{1,255})\Z")


def parse_arn(arn: str, region: str) -> tuple[str, str]:
    """(kind, name) of a resource ARN of this server: ("collection", id) or ("streamprocessor", name)."""
    found = _ARN.match(arn)
    if found is None:
        raise invalid_parameter(f"ResourceArn {arn[:300]!r} is not the ARN of a faceindex collection or stream "
                                f"processor (arn:aws:rekognition:{region}:{ACCOUNT}:collection/<id>)")
    if found["region"] != region or found["account"] != ACCOUNT:
        raise not_found(f"no resource {arn[:300]!r}: this server's resources are in region {region}, "
                        f"account {ACCOUNT}")
    return found["kind"], found["name"]


def merged(current: dict[str, str], added: dict[str, str]) -> dict[str, str]:
    """current with added over it; ServiceQuotaExceededException beyond MAX_TAGS."""
    tags = {**current, **added}
    if len(tags) > MAX_TAGS:
        raise ServiceError("ServiceQuotaExceededException",
                           f"a resource holds at most {MAX_TAGS} tags; this would make {len(tags)}")
    return tags


def read_tags(folder: Path) -> dict[str, str]:
    try:
        data = json.loads((folder / TAGS_NAME).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    return {str(k): str(v) for k, v in data.items()}


def write_tags(folder: Path, tags: dict[str, str]) -> None:
    path = folder / TAGS_NAME
    if not tags:
        path.unlink(missing_ok=True)
        fsync_directory(folder)
        return
    temp = folder / f".{TAGS_NAME}.{os.getpid()}.tmp"
    temp.unlink(missing_ok=True)
    permissions.create_private_file(temp)
    with open(temp, "w", encoding="utf-8") as f:
        json.dump(tags, f, sort_keys=True)
        f.flush()
        os.fsync(f.fileno())
    os.replace(temp, path)
    fsync_directory(folder)
