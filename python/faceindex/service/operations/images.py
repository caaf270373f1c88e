"""DetectFaces, CompareFaces."""

from __future__ import annotations
