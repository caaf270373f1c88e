"""TagResource, UntagResource, ListTagsForResource: tags of collections (kept in the collection's folder)
and of stream processors (kept with the processor), by faceindex's ARNs (service/tags.py)."""

from __future__ import annotations

from typing import Any

from faceindex.service import tags
from faceindex.service.context import RequestContext
from faceindex.service.operations.registry import operation
from faceindex.service.operations.stream_processors import processors


def _change(ctx: RequestContext, arn: str, added: dict[str, str], removed: list[str]) -> dict[str, str]:
    """Change the tags of the resource an ARN names (nothing to change: read them); its tags after."""
    kind, name = tags.parse_arn(arn, ctx.config.region)
    if kind == "collection":
        ctx.require_collection(name)
        if added or removed:
            ctx.catalog.change_collection_tags(name, added, removed)
        return ctx.catalog.collection_tags(name)
    store = processors(ctx).store
    processor = store.require(name)
    ctx.require_collection(processor.collection_id)
    if added or removed:
        changed = tags.merged({k: v for k, v in processor.tags.items() if k not in removed}, added)
        processor = store.change(name, tags=changed)
    return processor.tags


@operation("TagResource")
def tag_resource(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    _change(ctx, params["ResourceArn"], params["Tags"], [])
    return {}


@operation("UntagResource")
def untag_resource(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    _change(ctx, params["ResourceArn"], {}, list(params["TagKeys"]))
    return {}


@operation("ListTagsForResource")
def list_tags_for_resource(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    return {"Tags": _change(ctx, params["ResourceArn"], {}, [])}
