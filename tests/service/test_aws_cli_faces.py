"""The AWS CLI's face commands against `faceindex serve`: index-faces from a file (fileb://),
search-faces-by-image, list-faces, delete-faces, as a user of Rekognition would type them."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from ops_helpers import LOW_BAR, OBAMA, OBAMA_PROBE
from service_helpers import RunningServer
from test_aws_cli import aws, ok


@pytest.mark.slow
def test_aws_cli_index_search_list_delete(rekognition_server: RunningServer, tmp_path: Path,
                                          data_file: Callable[[str], Path]) -> None:
    def cli(*args: str) -> object:
        return ok(aws(rekognition_server, tmp_path, *args))

    cli("create-collection", "--collection-id", "cli-faces")
    indexed = cli("index-faces", "--collection-id", "cli-faces", "--image-bytes", f"fileb://{data_file(OBAMA)}",
                  "--external-image-id", "obama", "--max-faces", "1", "--quality-filter", "AUTO")
    assert isinstance(indexed, dict) and len(indexed["FaceRecords"]) == 1
    face_id = indexed["FaceRecords"][0]["Face"]["FaceId"]
    found = cli("search-faces-by-image", "--collection-id", "cli-faces", "--image-bytes",
                f"fileb://{data_file(OBAMA_PROBE)}", "--face-match-threshold", str(LOW_BAR))
    assert isinstance(found, dict)
    assert [m["Face"]["FaceId"] for m in found["FaceMatches"]] == [face_id]
    assert LOW_BAR <= found["FaceMatches"][0]["Similarity"] <= 100
    listed = cli("list-faces", "--collection-id", "cli-faces")
    assert isinstance(listed, dict) and [f["FaceId"] for f in listed["Faces"]] == [face_id]
    assert listed["Faces"][0]["ExternalImageId"] == "obama" and "BoundingBox" in listed["Faces"][0]
    deleted = cli("delete-faces", "--collection-id", "cli-faces", "--face-ids", face_id)
    assert isinstance(deleted, dict) and deleted["DeletedFaces"] == [face_id]
    assert cli("list-faces", "--collection-id", "cli-faces")["Faces"] == []  # type: ignore[index]
    not_a_photo = tmp_path / "notes.jpg"
    not_a_photo.write_text("not a photo")
    refused = aws(rekognition_server, tmp_path, "index-faces", "--collection-id", "cli-faces",
                  "--image-bytes", f"fileb://{not_a_photo}")
    assert refused.returncode != 0 and "InvalidImageFormatException" in refused.stderr
