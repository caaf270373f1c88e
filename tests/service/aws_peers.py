"""moto's server on 127.0.0.1 standing in for SNS, SQS, Kinesis and S3 in the endpoint's tests, and a short
cut of the shared clip for video jobs that should not take long."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

REGION = "us-east-1"
ACCOUNT = "123456789012"  # moto's account
# The credentials moto accepts (anything signs for it), for the server's botocore clients and the tests'.
ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": REGION}


@contextmanager
def moto_server() -> Iterator[str]:
    """moto's server on a free port of 127.0.0.1; its endpoint URL."""
    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # a line per request would bury a failure's report
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def aws_client(service: str, endpoint: str) -> Any:
    import boto3

    return boto3.client(service, endpoint_url=endpoint, region_name=REGION, aws_access_key_id="testing",
                        aws_secret_access_key="testing")


def topic_with_queue(endpoint: str, name: str) -> tuple[str, str]:
    """An SNS topic and an SQS queue subscribed to it, as AWS's video examples set them up: (topic ARN, queue URL)."""
    sns, sqs = aws_client("sns", endpoint), aws_client("sqs", endpoint)
    topic = sns.create_topic(Name=name)["TopicArn"]
    queue = sqs.create_queue(QueueName=f"{name}-queue")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
    return topic, queue


def wait_for_notification(endpoint: str, queue: str, job_id: str, timeout_s: float = 600.0) -> dict[str, Any]:
    """The Rekognition completion message of job_id from the queue (SNS's envelope opened), as AWS's
    examples wait for it: long polls of the queue, bounded."""
    sqs = aws_client("sqs", endpoint)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for message in sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=2).get(
                "Messages", []):
            sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])
            body = json.loads(json.loads(message["Body"])["Message"])
            if body["JobId"] == job_id:
                return body  # type: ignore[no-any-return]
    raise AssertionError(f"no notification of job {job_id} within {timeout_s} s")


def cut_clip(source: Path, target: Path, seconds: float) -> Path:
    """The first `seconds` of a video, remuxed (no re-encoding: packets copied up to the cut)."""
    import av

    with av.open(str(source)) as src, av.open(str(target), "w", format="mp4") as dst:
        stream = src.streams.video[0]
        out = dst.add_stream_from_template(stream)
        for packet in src.demux(stream):
            if packet.dts is None:
                continue
            if float(packet.dts * stream.time_base) > seconds:
                break
            packet.stream = out
            dst.mux(packet)
    return target
