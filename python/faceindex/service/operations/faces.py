"""IndexFaces, ListFaces, DeleteFaces, SearchFaces, SearchFacesByImage."""

from __future__ import annotations
