"""`faceindex collection create --shards --ray` and `faceindex index --ray`, run as a user runs them
(a separate process joining this module's Ray instance); an index run killed midway is resumed by
the next one, and no image is stored twice."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from ray_helpers import local_ray, ray

from faceindex.collection import Collections

IMAGES = 12

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def address() -> Iterator[str]:
    with local_ray(num_cpus=2):
        yield str(ray.get_runtime_context().gcs_address)


@pytest.fixture(scope="module")
def photos(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder of links to the first LFW photos (the data itself is not copied)."""
    source = data_dir / "lfw" / "images"
    if not source.is_dir():
        pytest.skip(f"no LFW photos in {source}")
    folder = tmp_path_factory.mktemp("photos")
    for path in sorted(source.rglob("*.jpg"))[:IMAGES]:
        (folder / path.name).symlink_to(path)
    return folder


def _cli(*args: str, home: Path) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "faceindex.cli", "--home", str(home), *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _run(*args: str, home: Path, timeout: float = 240) -> dict:  # type: ignore[type-arg]
    process = _cli(*args, "--json", home=home)
    out, err = process.communicate(timeout=timeout)
    assert process.returncode == 0, err[-3000:]
    return json.loads(out)  # type: ignore[no-any-return]


def _ingested(home: Path) -> int:
    count = 0
    for ledger in (home / "sharded" / "lfw").glob("shard-*/ingested.sqlite"):
        with sqlite3.connect(f"file:{ledger}?mode=ro", uri=True, timeout=5) as conn:
            count += conn.execute("SELECT count(*) FROM images WHERE state = 'done'").fetchone()[0]
    return count


def _faces(home: Path) -> Counter[str]:
    found: Counter[str] = Counter()
    for shard in sorted((home / "sharded" / "lfw").glob("shard-*")):
        with Collections(shard).collection("lfw") as on_disk:
            found.update(r.external_image_id for r in on_disk.iter_faces() if r.external_image_id)
    return found


def test_create_index_kill_and_resume(address: str, photos: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    created = _run("collection", "create", "lfw", "--shards", "2", "--ray", address, home=home)
    assert created["shards"] == 2 and Path(created["path"]).is_dir()

    single = _run("collection", "create", "one", home=home)
    assert single["collection_id"] == "one"
    plain = _run("index", "one", str(photos), home=home)
    with Collections(home).collection("one") as one:
        expected = Counter(r.external_image_id for r in one.iter_faces() if r.external_image_id)
    assert plain["indexed_faces"] == sum(expected.values()) > 0

    # Killed once a few images are stored: what it stored stays, once.
    process = _cli("index", "lfw", str(photos), "--ray", address, "--workers", "1", "--batch-size", "1",
                   home=home)
    deadline = time.monotonic() + 180
    while _ingested(home) < 3 and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    process.send_signal(signal.SIGKILL)
    process.communicate(timeout=30)
    stored_before = _ingested(home)
    assert 3 <= stored_before < IMAGES, "the run was not interrupted midway"

    resumed = _run("index", "lfw", str(photos), "--ray", address, "--workers", "2", home=home)
    assert resumed["skipped"] == stored_before and resumed["images"] == IMAGES and resumed["failed"] == []
    assert _faces(home) == expected
    assert resumed["faces_per_s"] > 0


def test_bad_options_are_refused(address: str, tmp_path: Path) -> None:
    process = _cli("collection", "create", "x", "--shards", "0", "--ray", address, home=tmp_path)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 2 and "must be from 1 to 4096" in err
    process = _cli("index", "missing", str(tmp_path), "--ray", address, home=tmp_path)
    _, err = process.communicate(timeout=60)
    assert process.returncode != 0 and "no photos or videos found" in err
    os.makedirs(tmp_path / "pics")
    (tmp_path / "pics" / "a.jpg").write_bytes(b"x")
    process = _cli("index", "missing", str(tmp_path / "pics"), "--ray", address, home=tmp_path)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 3 and "no sharded collection 'missing'" in err


def test_a_local_ray_instance_stays_on_loopback(tmp_path: Path) -> None:
    """--ray local starts Ray on 127.0.0.1 by itself (connect() checks ray.nodes() and refuses
    anything else), without the switch the tests' own process sets."""
    env = {k: v for k, v in os.environ.items() if k != "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"}
    process = subprocess.run([sys.executable, "-m", "faceindex.cli", "--home", str(tmp_path), "--json", "collection",
                              "create", "x", "--shards", "2", "--ray", "local"], capture_output=True, text=True,
                             env=env, timeout=240)
    assert process.returncode == 0, process.stderr[-3000:]
    assert json.loads(process.stdout)["shards"] == 2


@pytest.mark.parametrize(("address", "loopback"), [
    ("local", True), ("127.0.0.1:6379", True), ("localhost:6379", True), ("ray://127.0.0.1:10001", True),
    ("[::1]:6379", True), ("10.0.0.5:6379", False), ("auto", False), ("ray://head:10001", False)])
def test_which_addresses_are_loopback(address: str, loopback: bool) -> None:
    from faceindex.distributed.connect import is_loopback

    assert is_loopback(address) is loopback


def test_an_address_where_no_cluster_answers_fails_at_once(tmp_path: Path) -> None:
    with socket.socket() as unused:  # a port nothing listens on: bound, never listening
        unused.bind(("127.0.0.1", 0))
        address = f"127.0.0.1:{unused.getsockname()[1]}"
        for args in (["collection", "create", "x", "--shards", "2", "--ray", address],
                     ["serve", "--no-auth", "--port", "0", "--ray", address]):
            started = time.monotonic()
            process = subprocess.run([sys.executable, "-m", "faceindex.cli", "--home", str(tmp_path), *args],
                                     capture_output=True, text=True, timeout=120)
            assert process.returncode == 1, process.stderr[-2000:]
            assert f"no Ray cluster answers at {address}" in process.stderr
            assert time.monotonic() - started < 60


@pytest.mark.parametrize(("address", "target"), [
    ("10.0.0.5:6379", ("10.0.0.5", 6379)), ("ray://head:10001", ("head", 10001)), ("[::1]:6379", ("::1", 6379)),
    ("auto", None), ("local", None), ("head", None)])
def test_the_host_and_port_of_an_address(address: str, target: tuple[str, int] | None) -> None:
    from faceindex.distributed.connect import host_and_port

    assert host_and_port(address) == target


def test_collection_list_describe_delete_know_sharded_collections(address: str, tmp_path: Path) -> None:
    _run("collection", "create", "plain", home=tmp_path)
    _run("collection", "create", "spread", "--shards", "3", "--ray", address, home=tmp_path)
    assert _run("collection", "list", home=tmp_path) == {"collections": ["plain"], "sharded": ["spread"]}
    described = _run("collection", "describe", "spread", home=tmp_path)  # read from the files: no --ray
    assert described["shards"] == 3 and described["face_count"] == 0 and described["collection_id"] == "spread"
    assert described["pack"] == _run("collection", "describe", "plain", home=tmp_path)["pack"]
    process = _cli("collection", "describe", "spread", home=tmp_path)
    text, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    assert "spread (sharded over 3 Ray actors)" in text and "faces       0" in text
    assert _run("collection", "delete", "spread", home=tmp_path) == {"deleted": "spread"}
    assert _run("collection", "list", home=tmp_path) == {"collections": ["plain"]}
    process = _cli("collection", "describe", "spread", home=tmp_path)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 3 and "spread" in err
