"""CreateUser, DeleteUser, ListUsers, AssociateFaces, DisassociateFaces, SearchUsers, SearchUsersByImage
through boto3's rekognition client against `faceindex serve` on 127.0.0.1, with real photos."""

from __future__ import annotations

from typing import Any

import pytest

from faceindex import Collections
from ops_helpers import (LOW_BAR, OBAMA_AND_BIDEN, OBAMA_PROBE, DataFile, darkened,
                         error_of, faceindex_headers, index_portraits, photo)
from service_helpers import RunningServer

UNKNOWN_FACE = "00000000-0000-4000-8000-000000000000"


@pytest.fixture(scope="module")
def rk(rekognition_server: RunningServer) -> Any:
    """One client for the module (conftest's `rekognition` is made per test)."""
    return rekognition_server.client()


@pytest.fixture(scope="module")
def faces(rk: Any, data_file: DataFile) -> dict[str, str]:
    """Collection "users": four portraits, one face each; no user yet; name -> FaceId."""
    return index_portraits(rk, data_file, "users")


def test_create_user_is_idempotent_with_a_token(rk: Any, faces: dict[str, str]) -> None:
    assert rk.create_user(CollectionId="users", UserId="token-user", ClientRequestToken="tok-1")
    # A retry with the same token succeeds as the first call did.
    rk.create_user(CollectionId="users", UserId="token-user", ClientRequestToken="tok-1")
    code, message, status = error_of(rk.create_user, CollectionId="users", UserId="token-user")
    assert (code, status) == ("ConflictException", 400) and "token-user" in message
    assert error_of(rk.create_user, CollectionId="users", UserId="other-user", ClientRequestToken="tok-1")[0] == \
        "IdempotentParameterMismatchException"
    assert error_of(rk.create_user, CollectionId="nobody", UserId="u")[0] == "ResourceNotFoundException"
    assert error_of(rk.create_user, CollectionId="users", UserId="no spaces/or slashes")[0] == "ValidationException"
    rk.delete_user(CollectionId="users", UserId="token-user", ClientRequestToken="del-1")
    rk.delete_user(CollectionId="users", UserId="token-user", ClientRequestToken="del-1")  # the retry
    assert error_of(rk.delete_user, CollectionId="users", UserId="token-user")[0] == "ResourceNotFoundException"


def test_retries_arriving_together_all_succeed(rekognition_server: RunningServer, faces: dict[str, str]) -> None:
    from concurrent.futures import ThreadPoolExecutor

    clients = [rekognition_server.client() for _ in range(6)]  # boto3 clients are not shared across threads here
    with ThreadPoolExecutor(len(clients)) as pool:
        done = list(pool.map(lambda c: c.create_user(CollectionId="users", UserId="racer", ClientRequestToken="race"),
                             clients))
    assert all(d["ResponseMetadata"]["HTTPStatusCode"] == 200 for d in done)
    assert [u["UserId"] for u in clients[0].list_users(CollectionId="users")["Users"]].count("racer") == 1
    clients[0].delete_user(CollectionId="users", UserId="racer")


def test_list_users_pages(rk: Any, faces: dict[str, str]) -> None:
    names = [f"pager-{i}" for i in range(5)]
    for name in names:
        rk.create_user(CollectionId="users", UserId=name)
    try:
        seen, token = [], None
        while True:
            page = rk.list_users(CollectionId="users", MaxResults=2, **({"NextToken": token} if token else {}))
            assert all(u["UserStatus"] == "ACTIVE" for u in page["Users"])
            seen += [u["UserId"] for u in page["Users"]]
            token = page.get("NextToken")
            if token is None:
                break
        assert [s for s in seen if s.startswith("pager-")] == names
        assert error_of(rk.list_users, CollectionId="users", NextToken="f12")[0] == "InvalidPaginationTokenException"
    finally:
        for name in names:
            rk.delete_user(CollectionId="users", UserId=name)


def test_associate_search_disassociate(rekognition_server: RunningServer, rk: Any, faces: dict[str, str],
                                       data_file: DataFile) -> None:
    rk.create_user(CollectionId="users", UserId="barack")
    rk.create_user(CollectionId="users", UserId="joe")
    try:
        first = rk.associate_faces(CollectionId="users", UserId="barack", FaceIds=[faces["obama"]])
        assert first["AssociatedFaces"] == [{"FaceId": faces["obama"]}] and first["UserStatus"] == "ACTIVE"
        # The user has a face now: each new one must match it (UserMatchThreshold, default 75).
        answer = rk.associate_faces(CollectionId="users", UserId="barack", UserMatchThreshold=LOW_BAR,
                                    FaceIds=[faces["obama2"], faces["biden"], UNKNOWN_FACE])
        assert answer["AssociatedFaces"] == [{"FaceId": faces["obama2"]}]
        failures = {f["FaceId"]: f for f in answer["UnsuccessfulFaceAssociations"]}
        assert failures[faces["biden"]]["Reasons"] == ["LOW_MATCH_CONFIDENCE"]
        assert 0 <= failures[faces["biden"]]["Confidence"] < LOW_BAR
        assert failures[UNKNOWN_FACE]["Reasons"] == ["FACE_NOT_FOUND"]
        headers = faceindex_headers(answer)
        assert float(headers["x-faceindex-requested-similarity"]) == LOW_BAR
        assert headers["x-faceindex-threshold-chosen-by"] == "fmr"
        rk.associate_faces(CollectionId="users", UserId="joe", FaceIds=[faces["biden"]])
        taken = rk.associate_faces(CollectionId="users", UserId="joe", FaceIds=[faces["obama"]])
        assert taken["UnsuccessfulFaceAssociations"] == [
            {"FaceId": faces["obama"], "UserId": "barack", "Reasons": ["ASSOCIATED_TO_A_DIFFERENT_USER"]}]
        # ListFaces by user; DeleteFaces refuses a face that is a user's, as AWS does.
        listed = rk.list_faces(CollectionId="users", UserId="barack")["Faces"]
        assert sorted(f["FaceId"] for f in listed) == sorted([faces["obama"], faces["obama2"]])
        assert all(f["UserId"] == "barack" for f in listed)
        refused = rk.delete_faces(CollectionId="users", FaceIds=[faces["obama2"]])
        assert refused["DeletedFaces"] == [] and refused["UnsuccessfulFaceDeletions"] == [
            {"FaceId": faces["obama2"], "UserId": "barack", "Reasons": ["ASSOCIATED_TO_AN_EXISTING_USER"]}]

        # SearchUsers by face: Biden's second photo finds joe; by user: nobody else is Obama.
        by_face = rk.search_users(CollectionId="users", FaceId=faces["biden2"], UserMatchThreshold=LOW_BAR)
        assert [m["User"]["UserId"] for m in by_face["UserMatches"]] == ["joe"]
        assert by_face["SearchedFace"] == {"FaceId": faces["biden2"]}
        assert LOW_BAR <= by_face["UserMatches"][0]["Similarity"] <= 100
        by_user = rk.search_users(CollectionId="users", UserId="barack", UserMatchThreshold=LOW_BAR)
        assert by_user["UserMatches"] == [] and by_user["SearchedUser"] == {"UserId": "barack"}
        assert error_of(rk.search_users, CollectionId="users")[0] == "InvalidParameterException"
        assert error_of(rk.search_users, CollectionId="users", UserId="nobody")[0] == "ResourceNotFoundException"

        # SearchUsersByImage: the largest face is searched; the others are listed as not searched.
        by_image = rk.search_users_by_image(CollectionId="users", Image=photo(data_file, OBAMA_AND_BIDEN),
                                            UserMatchThreshold=LOW_BAR)
        assert [m["User"]["UserId"] for m in by_image["UserMatches"]] in (["barack"], ["joe"])
        assert "BoundingBox" in by_image["SearchedFace"]["FaceDetail"]
        assert len(by_image["UnsearchedFaces"]) == 2
        assert all(u["Reasons"] == ["FACE_NOT_LARGEST"] for u in by_image["UnsearchedFaces"])
        probe = rk.search_users_by_image(CollectionId="users", Image=photo(data_file, OBAMA_PROBE),
                                         UserMatchThreshold=LOW_BAR)
        assert [m["User"]["UserId"] for m in probe["UserMatches"]] == ["barack"]
        with Collections(rekognition_server.home).collection("users") as collection:
            logged = [e for e in collection.audit_log()
                      if e.reference == probe["ResponseMetadata"]["RequestId"]]
        assert [e.purpose for e in logged] == ["rekognition:SearchUsersByImage"]
        assert float(faceindex_headers(probe)["x-faceindex-threshold"]) == pytest.approx(logged[0].threshold,
                                                                                        abs=1e-6)

        out = rk.disassociate_faces(CollectionId="users", UserId="barack", FaceIds=[faces["obama2"], faces["biden"]])
        assert out["DisassociatedFaces"] == [{"FaceId": faces["obama2"]}]
        assert out["UnsuccessfulFaceDisassociations"] == [
            {"FaceId": faces["biden"], "UserId": "joe", "Reasons": ["ASSOCIATED_TO_A_DIFFERENT_USER"]}]
        assert error_of(rk.disassociate_faces, CollectionId="users", UserId="nobody",
                        FaceIds=[faces["obama"]])[0] == "ResourceNotFoundException"
    finally:
        for user in ("barack", "joe"):
            rk.delete_user(CollectionId="users", UserId=user)
    # DeleteUser keeps the faces, no longer associated.
    kept = rk.list_faces(CollectionId="users", FaceIds=[faces["obama"], faces["biden"]])["Faces"]
    assert len(kept) == 2 and all("UserId" not in f for f in kept)


def test_error_paths_of_every_user_operation(rk: Any, faces: dict[str, str], data_file: DataFile) -> None:
    image = photo(data_file, OBAMA_PROBE)
    calls = {
        rk.create_user: {"UserId": "u"}, rk.delete_user: {"UserId": "u"}, rk.list_users: {},
        rk.associate_faces: {"UserId": "u", "FaceIds": [faces["obama"]]},
        rk.disassociate_faces: {"UserId": "u", "FaceIds": [faces["obama"]]},
        rk.search_users: {"UserId": "u"}, rk.search_users_by_image: {"Image": image},
    }
    for call, params in calls.items():
        assert error_of(call, CollectionId="nobody", **params)[0] == "ResourceNotFoundException", call
    assert error_of(rk.associate_faces, CollectionId="users", UserId="nobody",
                    FaceIds=[faces["obama"]])[0] == "ResourceNotFoundException"
    assert error_of(rk.associate_faces, CollectionId="users", UserId="u",
                    FaceIds=["not-a-face-id"])[0] == "ValidationException"
    assert error_of(rk.associate_faces, CollectionId="users", UserId="u", FaceIds=[faces["obama"]],
                    UserMatchThreshold=101)[0] == "ValidationException"
    by_image = rk.search_users_by_image
    assert error_of(by_image, CollectionId="users", Image={"Bytes": b"not a photo"})[0] == \
        "InvalidImageFormatException"
    assert error_of(by_image, CollectionId="users", Image={"Bytes": b"\0" * (5 * 1024 * 1024 + 1)})[0] == \
        "ImageTooLargeException"
    code, message, _ = error_of(by_image, CollectionId="users", Image=darkened(data_file, OBAMA_PROBE, 0.0))
    assert code == "InvalidParameterException" and "no faces" in message
    assert error_of(rk.search_users, CollectionId="users", FaceId=UNKNOWN_FACE)[0] == "ResourceNotFoundException"
