"""`faceindex serve`: the Rekognition-compatible HTTP endpoint (AWS JSON 1.1, SigV4), so that
existing boto3 code runs against faceindex with one changed line (endpoint_url).
See service/ and docs/service.md."""

from __future__ import annotations

import argparse
from pathlib import Path

from faceindex.cli import numbers
from faceindex.cli.common import CliError, OptionGroups, Output, add_command


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser], groups: OptionGroups) -> None:
    p = add_command(commands, "serve", cmd_serve,
                    "serve the Rekognition API (AWS JSON 1.1, SigV4) over HTTP, for boto3 and the AWS CLI",
                    [groups.common])
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=numbers.port, default=8080, help="port (default 8080; 0: any free port)")
    p.add_argument("--workers", type=numbers.positive, default=2,
                   help="threads that run requests at once (default 2; the C++ core releases the GIL)")
    p.add_argument("--queue-size", type=numbers.count, default=16,
                   help="requests that may wait for a worker; beyond it ThrottlingException (default 16)")
    p.add_argument("--credentials", type=Path, metavar="FILE",
                   help="INI file of access keys ([name] aws_access_key_id / aws_secret_access_key), mode 0600")
    p.add_argument("--no-auth", action="store_true",
                   help="accept unsigned requests (only on a loopback address; warns at start)")
    p.add_argument("--region", default="us-east-1", help="region named in collection ARNs (default us-east-1)")
    p.add_argument("--s3-root", type=Path, metavar="DIR",
                   help="S3Object images are read from DIR/<bucket>/<key>")
    p.add_argument("--s3-endpoint-url", metavar="URL",
                   help="S3Object images are read through boto3 from this S3-compatible endpoint")
    p.add_argument("--pack", help="model pack of new collections and of DetectFaces / CompareFaces "
                   "(default: dlib)")
    p.add_argument("--ray", metavar="ADDRESS", help="serve sharded collections through this Ray cluster (an "
                   "address, 'auto', or 'local' for a Ray instance in this process); needs faceindex[ray]")
    p.add_argument("--shards", type=numbers.positive, help="with --ray: CreateCollection makes collections sharded over "
                   "this many Ray actors (without it, plain collections)")
    p.add_argument("--sns-endpoint-url", metavar="URL",
                   help="publish video jobs' completion to their NotificationChannel's SNS topic at this endpoint "
                   "(credentials and signing as botocore finds them; without it NotificationChannel is refused)")
    p.add_argument("--kinesis-endpoint-url", metavar="URL",
                   help="stream processors put their records to Kinesis Data Streams at this endpoint")
    p.add_argument("--stream-sources", type=Path, metavar="FILE",
                   help="JSON object mapping Kinesis Video Stream ARNs to the sources faceindex opens for them "
                   "(rtsp:// http:// tcp:// URLs, camera devices): a stream processor's Input")
    p.add_argument("--shard-timeout", type=numbers.timeout_seconds, default=10.0, metavar="SECONDS",
                   help="with --ray: how long a request waits for a shard before it is answered ServiceUnavailable "
                   "(HTTP 503, naming the shards; default 10)")


def cmd_serve(args: argparse.Namespace, out: Output) -> int:
    from faceindex.collection import default_home
    from faceindex.errors import EXIT_USAGE
    try:
        import botocore  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as e:
        raise CliError(f"faceindex serve needs the `serve` extra ({e.name} is missing): "
                       "pip install 'faceindex[serve]'", EXIT_USAGE) from e
    from faceindex.service.config import ServiceConfig
    from faceindex.service.server import is_loopback, serve

    if args.no_auth and args.credentials is not None:
        raise CliError("give either --credentials or --no-auth, not both", EXIT_USAGE)
    if args.no_auth and not is_loopback(args.host):
        raise CliError(f"--no-auth is allowed only on a loopback address (127.0.0.1, ::1, localhost), not "
                       f"{args.host}: anyone who can reach it could read and change the collections", EXIT_USAGE)
    if not args.no_auth and args.credentials is None:
        raise CliError("--credentials FILE is needed (or --no-auth on a loopback address)", EXIT_USAGE)
    if args.s3_root is not None and args.s3_endpoint_url is not None:
        raise CliError("give either --s3-root or --s3-endpoint-url, not both", EXIT_USAGE)
    if args.shards is not None and args.ray is None:
        raise CliError("--shards needs --ray ADDRESS (sharded collections live on a Ray cluster)", EXIT_USAGE)
    if args.ray is not None:
        try:
            import ray  # noqa: F401
        except ImportError as e:
            raise CliError("--ray needs Ray: pip install 'faceindex[ray]'", EXIT_USAGE) from e
    for option, url in (("--sns-endpoint-url", args.sns_endpoint_url), ("--kinesis-endpoint-url",
                                                                        args.kinesis_endpoint_url)):
        if url is not None:
            from faceindex.service.outputs import credentials_found

            if not credentials_found():
                raise CliError(f"{option} needs AWS credentials to sign with (AWS_ACCESS_KEY_ID and "
                               "AWS_SECRET_ACCESS_KEY, or a profile botocore finds)", EXIT_USAGE)
    if args.stream_sources is not None:
        from faceindex.service.stream_processors import StreamSourceError, load_stream_sources

        try:
            load_stream_sources(args.stream_sources)
        except StreamSourceError as e:
            raise CliError(str(e), EXIT_USAGE) from e
    config = ServiceConfig(
        home=Path(args.home) if args.home else default_home(), host=args.host, port=args.port,
        workers=args.workers, queue_size=args.queue_size, credentials_file=args.credentials,
        no_auth=args.no_auth, region=args.region, s3_root=args.s3_root, s3_endpoint_url=args.s3_endpoint_url,
        pack=args.pack, ray_address=args.ray, shards=args.shards, shard_timeout_s=args.shard_timeout,
        sns_endpoint_url=args.sns_endpoint_url, kinesis_endpoint_url=args.kinesis_endpoint_url,
        stream_sources=args.stream_sources)
    return serve(config, out=args.stderr)
