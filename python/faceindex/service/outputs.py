"""Where the endpoint writes beyond its own answers: SNS (NotificationChannel of a video job) and Kinesis
Data Streams (a stream processor's records), each at the endpoint the server was started with
(--sns-endpoint-url, --kinesis-endpoint-url: an AWS region's, or moto / LocalStack for tests), through
botocore's own clients (SigV4 with the credentials botocore finds: AWS_ACCESS_KEY_ID / _SECRET_ACCESS_KEY,
a profile, ...). The region is the one the topic's or stream's ARN names.

Without the endpoint, a request that asks for it is InvalidParameterException at once, never a
notification silently dropped.
"""

from __future__ import annotations

import json
import re
import threading
from typing import Any

from faceindex.service.errors import invalid_parameter

_SNS_ARN = re.compile(r"arn:aws:sns:(?P<region>[a-z0-9-]+):(?P<account>[0-9]{12}):(?P<name>[A-Za-z0-9_-]{1,256})\Z")
_KINESIS_ARN = re.compile(r"arn:aws:kinesis:(?P<region>[a-z0-9-]+):(?P<account>[0-9]{12}):stream/"
                          r"(?P<name>[A-Za-z0-9_.-]{1,128})\Z")


class OutputError(Exception):
    """A write to SNS or Kinesis that failed (the message names the topic or stream and the error)."""


class _Clients:
    """botocore clients by (service, region), made once (botocore clients are thread-safe)."""

    def __init__(self, service: str, endpoint_url: str) -> None:
        self.service = service
        self.endpoint_url = endpoint_url
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()

    def client(self, region: str) -> Any:
        with self._lock:
            if region not in self._clients:
                import botocore.session
                from botocore.config import Config

                session = botocore.session.get_session()
                self._clients[region] = session.create_client(
                    self.service, region_name=region, endpoint_url=self.endpoint_url,
                    config=Config(retries={"total_max_attempts": 3}, connect_timeout=5, read_timeout=10))
            return self._clients[region]


def credentials_found() -> bool:
    """Whether botocore finds credentials to sign SNS / Kinesis requests with."""
    import botocore.session

    return botocore.session.get_session().get_credentials() is not None


class Notifications:
    """Video job completion messages to SNS (Rekognition's payload: JobId, Status, API, JobTag, Timestamp, Video)."""

    def __init__(self, endpoint_url: str | None) -> None:
        self._clients = _Clients("sns", endpoint_url) if endpoint_url else None

    def check(self, channel: dict[str, Any]) -> None:
        """InvalidParameterException now for a NotificationChannel this server cannot publish to."""
        if self._clients is None:
            raise invalid_parameter("NotificationChannel needs an SNS endpoint: this server was started without "
                                    "--sns-endpoint-url, so the completion could not be published (poll with "
                                    "GetFaceDetection / GetFaceSearch, or restart it with the endpoint)")
        if _SNS_ARN.match(channel.get("SNSTopicArn", "")) is None:
            raise invalid_parameter("NotificationChannel.SNSTopicArn is not an SNS topic ARN "
                                    "(arn:aws:sns:<region>:<account>:<topic>)")

    def publish(self, topic_arn: str, message: dict[str, Any]) -> None:
        found = _SNS_ARN.match(topic_arn)
        if self._clients is None or found is None:
            raise OutputError(f"no SNS endpoint, or {topic_arn!r} is not a topic ARN")
        try:
            self._clients.client(found["region"]).publish(TopicArn=topic_arn, Message=json.dumps(message))
        except Exception as e:  # botocore's ClientError, connection errors: reported by the caller
            raise OutputError(f"publishing to {topic_arn} failed: {type(e).__name__}: {e}") from e


class KinesisRecords:
    """A stream processor's frame records to a Kinesis data stream."""

    def __init__(self, endpoint_url: str | None) -> None:
        self._clients = _Clients("kinesis", endpoint_url) if endpoint_url else None

    def check(self, stream_arn: str) -> None:
        if self._clients is None:
            raise invalid_parameter("Output.KinesisDataStream needs a Kinesis endpoint: this server was started "
                                    "without --kinesis-endpoint-url")
        if _KINESIS_ARN.match(stream_arn) is None:
            raise invalid_parameter("Output.KinesisDataStream.Arn is not a Kinesis data stream ARN "
                                    "(arn:aws:kinesis:<region>:<account>:stream/<name>)")

    def put(self, stream_arn: str, partition_key: str, record: dict[str, Any]) -> None:
        found = _KINESIS_ARN.match(stream_arn)
        if self._clients is None or found is None:
            raise OutputError(f"no Kinesis endpoint, or {stream_arn!r} is not a stream ARN")
        data = json.dumps(record, separators=(",", ":")).encode()
        try:
            self._clients.client(found["region"]).put_record(StreamName=found["name"], Data=data,
                                                             PartitionKey=partition_key)
        except Exception as e:
            raise OutputError(f"writing to the Kinesis data stream {found['name']} failed: "
                              f"{type(e).__name__}: {e}") from e
