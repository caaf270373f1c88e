"""The check of a request against botocore's Rekognition model, in process: every pattern of the
model is read, Java's Unicode classes included; messages name member paths as AWS does; the
credentials file is refused when it is open to others or malformed."""

from __future__ import annotations

from pathlib import Path

import pytest
from botocore.model import Shape

from faceindex.service.auth import CredentialsFileError, load_credentials
from faceindex.service.errors import ServiceError
from faceindex.service.service_model import _pattern, check_input, operation_model, service_model


def all_input_shapes() -> list[Shape]:
    seen: dict[str, Shape] = {}

    def walk(shape: Shape) -> None:
        if shape.name in seen:
            return
        seen[shape.name] = shape
        children = (list(shape.members.values()) if shape.type_name == "structure" else
                    [shape.member] if shape.type_name == "list" else
                    [shape.key, shape.value] if shape.type_name == "map" else [])
        for child in children:
            walk(child)

    model = service_model()
    for name in model.operation_names:
        if model.operation_model(name).input_shape is not None:
            walk(model.operation_model(name).input_shape)
    return list(seen.values())


def test_every_pattern_of_the_model_is_read() -> None:
    patterns = [s.metadata["pattern"] for s in all_input_shapes() if "pattern" in s.metadata]
    assert len(patterns) > 30
    assert [p for p in patterns if _pattern(p) is None] == []


def test_java_unicode_classes() -> None:
    create = operation_model("CreateCollection")
    assert create is not None
    assert check_input(create, {"CollectionId": "c", "Tags": {"équipe": "Zürich 1"}})["Tags"] == {"équipe": "Zürich 1"}
    with pytest.raises(ServiceError) as refused:
        check_input(create, {"CollectionId": "c", "Tags": {"aws:reserved": "x"}})
    assert refused.value.code == "ValidationException"
    assert "at 'tags.key' failed to satisfy constraint: Member must satisfy regular expression pattern" in \
        refused.value.message


def test_blobs_and_nested_paths() -> None:
    detect = operation_model("DetectFaces")
    assert detect is not None
    assert check_input(detect, {"Image": {"Bytes": "AAEC"}}) == {"Image": {"Bytes": b"\x00\x01\x02"}}
    with pytest.raises(ServiceError) as refused:
        check_input(detect, {"Image": {"S3Object": {"Bucket": "b", "Name": ""}}})
    assert refused.value.message.startswith("2 validation errors detected: ")
    assert "at 'image.s3Object.bucket' failed to satisfy constraint: Member must have length greater than or " \
           "equal to 3" in refused.value.message
    assert "at 'image.s3Object.name'" in refused.value.message
    with pytest.raises(ServiceError) as wrong:
        check_input(detect, {"Image": {"Bytes": 7}})
    assert wrong.value.code == "SerializationException" and "image.bytes" in wrong.value.message


def test_an_operation_has_rekognitions_model_and_an_unknown_one_none() -> None:
    """Requests are checked against Rekognition's own service model: a known operation has its input
    shape (IndexFaces: CollectionId and Image required), and a name Rekognition does not have, none."""
    model = operation_model("IndexFaces")
    assert model is not None and model.name == "IndexFaces"
    assert {"CollectionId", "Image"} <= set(model.input_shape.required_members)
    assert {"MaxFaces", "QualityFilter", "ExternalImageId"} <= set(model.input_shape.members)
    assert operation_model("NoSuchThing") is None
    assert operation_model("indexfaces") is None  # names are exact, as on the wire


def write(path: Path, text: str, mode: int = 0o600) -> Path:
    path.write_text(text)
    path.chmod(mode)
    return path


def test_credentials_file(tmp_path: Path) -> None:
    keys = write(tmp_path / "k", "[a]\naws_access_key_id = AK1\naws_secret_access_key = s1\n"
                                 "[b]\naws_access_key_id = AK2\naws_secret_access_key = s2\n")
    assert load_credentials(keys) == {"AK1": "s1", "AK2": "s2"}
    for text, says in [("", "holds no key pair"), ("[a]\naws_access_key_id = AK1\n", "needs aws_access_key_id"),
                       ("no section", "is not INI"),
                       ("[a]\naws_access_key_id=A\naws_secret_access_key=s\n[b]\naws_access_key_id=A\n"
                        "aws_secret_access_key=t\n", "twice")]:
        with pytest.raises(CredentialsFileError, match=says):
            load_credentials(write(tmp_path / "bad", text))
    with pytest.raises(CredentialsFileError, match="chmod 600") as exposed:
        load_credentials(write(tmp_path / "open", "[a]\naws_access_key_id = AK1\naws_secret_access_key = s1\n", 0o640))
    assert "s1" not in str(exposed.value)
    with pytest.raises(CredentialsFileError, match="cannot read"):
        load_credentials(tmp_path / "missing")
