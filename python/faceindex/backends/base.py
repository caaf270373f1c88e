"""The interface every inference backend implements."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np


@dataclass(frozen=True)
class TensorSpec:
    """A model input or output: its name, shape (None for a dynamic axis) and element type."""

    name: str
    shape: tuple[int | None, ...]
    dtype: str  # numpy dtype name, e.g. "float32"


class Session(Protocol):
    """A loaded network. `run` takes inputs by name and returns outputs in `outputs` order."""

    backend: str
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]

    def run(self, feeds: dict[str, np.ndarray]) -> list[np.ndarray]: ...
