"""What `faceindex serve` was started with."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ServiceConfig:
    home: Path  # the faceindex home: collections under home/collections, the job queue under home/service
    host: str = "127.0.0.1"
    port: int = 8080
    workers: int = 2  # threads that run CPU work (the C++ core releases the GIL)
    queue_size: int = 16  # requests waiting for a worker; beyond it ThrottlingException
    credentials_file: Path | None = None  # access key id -> secret key (SigV4); None only with no_auth
    no_auth: bool = False  # allowed only on a loopback bind
    region: str = "us-east-1"
    s3_root: Path | None = None  # S3Object: <s3_root>/<bucket>/<key>
    s3_endpoint_url: str | None = None  # S3Object through boto3 from an S3-compatible endpoint
    pack: str | None = None  # the pack of new collections and of DetectFaces / CompareFaces (None: the default)
    ray_address: str | None = None  # --ray: sharded collections are served through this Ray cluster ('local': one here)
    shards: int | None = None  # --shards: CreateCollection makes sharded collections of this many shards
    shard_timeout_s: float = 10.0  # how long a request waits for a shard before ServiceUnavailable
    sns_endpoint_url: str | None = None  # NotificationChannel: video job completions published to SNS there
    kinesis_endpoint_url: str | None = None  # stream processors' records put to Kinesis Data Streams there
    stream_sources: Path | None = None  # JSON: Kinesis Video Stream ARN -> a source faceindex opens (URL, device)
