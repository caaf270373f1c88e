"""CreateCollection, DeleteCollection, ListCollections, DescribeCollection."""

from __future__ import annotations
