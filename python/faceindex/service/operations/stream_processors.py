"""CreateStreamProcessor, StartStreamProcessor, StopStreamProcessor, DescribeStreamProcessor,
ListStreamProcessors, DeleteStreamProcessor, UpdateStreamProcessor (face search: service/stream_processors.py)."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from faceindex.service.context import RequestContext
from faceindex.service.errors import invalid_parameter
from faceindex.service.operations.registry import operation
from faceindex.service.stream_processors import Processor, StreamProcessors

DEFAULT_MAX_RESULTS = 1000
_DESCRIBED = ("Input", "Output", "RoleArn", "Settings", "NotificationChannel", "KmsKeyId", "RegionsOfInterest",
              "DataSharingPreference")


def processors(ctx: RequestContext) -> StreamProcessors:
    if ctx.catalog.stream_processors is None:
        raise invalid_parameter("this server runs no stream processors")
    return ctx.catalog.stream_processors


def _held(ctx: RequestContext, name: str) -> Processor:
    """The processor of that name, if the key may use its collection."""
    processor = processors(ctx).store.require(name)
    ctx.require_collection(processor.collection_id)
    return processor


@operation("CreateStreamProcessor")
def create_stream_processor(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    request = {k: v for k, v in params.items() if k not in ("Name", "Tags")}
    arn = processors(ctx).create(params["Name"], request, params.get("Tags") or {})
    return {"StreamProcessorArn": arn}


@operation("StartStreamProcessor")
def start_stream_processor(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    _held(ctx, params["Name"])
    if params.get("StartSelector"):
        raise invalid_parameter("StartSelector is for label detection stream processors; a face search stream "
                                "processor starts at the stream's present")
    if params.get("StopSelector"):
        raise invalid_parameter("StopSelector is for label detection stream processors; stop a face search stream "
                                "processor with StopStreamProcessor")
    return {"SessionId": processors(ctx).start(params["Name"])}


@operation("StopStreamProcessor")
def stop_stream_processor(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    _held(ctx, params["Name"])
    processors(ctx).stop(params["Name"])
    return {}


@operation("DeleteStreamProcessor")
def delete_stream_processor(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    _held(ctx, params["Name"])
    processors(ctx).delete(params["Name"])
    return {}


@operation("UpdateStreamProcessor")
def update_stream_processor(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    _held(ctx, params["Name"])
    processors(ctx).update(params["Name"], params)
    return {}


@operation("DescribeStreamProcessor")
def describe_stream_processor(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    processor = _held(ctx, params["Name"])
    answer: dict[str, Any] = {
        "Name": processor.name, "StreamProcessorArn": processors(ctx).arn(processor.name),
        "Status": processor.status,
        "CreationTimestamp": datetime.fromtimestamp(processor.created_at, tz=timezone.utc),
        "LastUpdateTimestamp": datetime.fromtimestamp(processor.updated_at, tz=timezone.utc)}
    if processor.status_message:
        answer["StatusMessage"] = processor.status_message
    answer.update({k: processor.request[k] for k in _DESCRIBED if k in processor.request})
    return answer


@operation("ListStreamProcessors")
def list_stream_processors(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    every = [p for p in processors(ctx).store.all()
             if ctx.access is None or ctx.access.may_use(p.collection_id)]
    names = [p.name for p in every]
    after = ctx.catalog.page_tokens.read("ListStreamProcessors", params.get("NextToken"), names)
    remaining = [p for p in every if after is None or p.name > after]
    limit = min(int(params.get("MaxResults", DEFAULT_MAX_RESULTS)), DEFAULT_MAX_RESULTS)
    page = remaining[:limit]
    answer: dict[str, Any] = {"StreamProcessors": [{"Name": p.name, "Status": p.status} for p in page]}
    if len(remaining) > len(page):
        answer["NextToken"] = ctx.catalog.page_tokens.make("ListStreamProcessors", page[-1].name)
    return answer
