"""Fixtures of the Rekognition endpoint's tests: one `faceindex serve` process per test module."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from service_helpers import RunningServer, start_server


@pytest.fixture(scope="module")
def rekognition_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """A running `faceindex serve` over a fresh home (2 workers, 16 waiting), stopped by SIGTERM after the module."""
    server = start_server(tmp_path_factory.mktemp("serve") / "home")
    try:
        yield server
    finally:
        code = server.stop()
        assert code == 0, f"faceindex serve exited with {code}:\n{server.log()}"


@pytest.fixture
def rekognition(rekognition_server: RunningServer) -> Any:
    """A boto3 rekognition client signed for rekognition_server."""
    return rekognition_server.client()
