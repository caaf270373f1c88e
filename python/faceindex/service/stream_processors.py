"""Stream processors (CreateStreamProcessor ... DeleteStreamProcessor) for face search: live search of a
stream (video/stream.py's StreamSearch, what `faceindex stream` runs) whose records go to a Kinesis
data stream in Rekognition's documented frame-record format.

Input: Rekognition names a Kinesis Video Stream ARN; faceindex opens a source of its own for it (an
RTSP / HTTP / TCP URL, a camera device), from the JSON file given to `faceindex serve
--stream-sources FILE`:

    {"arn:aws:kinesisvideo:us-east-1:000000000000:stream/front-door/1": "rtsp://camera-1/live"}

Output: one record per analysed frame (InputInformation, StreamProcessorInformation,
FaceSearchResponse with each face's DetectedFace and MatchedFaces), put to the data stream at
--kinesis-endpoint-url.

Status, as AWS documents it: STOPPED when created; Start -> STARTING (the source is being opened)
-> RUNNING; Stop -> STOPPING -> STOPPED; FAILED when the source cannot be opened or stays away
longer than the reconnect policy allows, or the records cannot be written (StatusMessage says
why); Update -> UPDATING -> back. A processor is kept in <home>/service/stream_processors.db
(SQLite, synchronous=FULL) with what it should be doing: one RUNNING when the server stops is
started again by the next server.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from faceindex import rekognition_shapes as shapes
from faceindex.collection import permissions
from faceindex.collection.contract import FaceCollection
from faceindex.errors import FaceIndexError
from faceindex.service import accountability, tags
from faceindex.service.access import ACCOUNT
from faceindex.service.errors import ServiceError, invalid_parameter, not_found
from faceindex.service.outputs import KinesisRecords, OutputError
from faceindex.service.private_database import PrivateDatabase
from faceindex.types import PackInfo

if TYPE_CHECKING:
    from faceindex.video.results import FrameFaces, Track

log = logging.getLogger("faceindex.service")

STOPPED, STARTING, RUNNING, FAILED, STOPPING, UPDATING = "STOPPED", "STARTING", "RUNNING", "FAILED", "STOPPING", \
    "UPDATING"
MIN_FACE_MATCH_THRESHOLD = 80.0  # FaceSearchSettings: "values lower than 80 are set to 80"
MAX_PROCESSORS = 100

_SCHEMA = """CREATE TABLE IF NOT EXISTS stream_processors (
    name TEXT PRIMARY KEY,
    request TEXT NOT NULL,
    tags TEXT NOT NULL,
    status TEXT NOT NULL,
    status_message TEXT,
    wanted TEXT NOT NULL,
    session_id TEXT,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
)"""


def resource_in_use(message: str) -> ServiceError:
    return ServiceError("ResourceInUseException", message)


class StreamSourceError(ValueError):
    """The --stream-sources file cannot be used (the message says why)."""


def load_stream_sources(path: Path | None) -> dict[str, str]:
    """Kinesis Video Stream ARN -> source, from the JSON object in the file (None: no sources)."""
    if path is None:
        return {}
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise StreamSourceError(f"cannot read the stream sources file {path}: {e}") from e
    if not isinstance(data, dict) or not all(isinstance(k, str) and isinstance(v, str) and v for k, v in data.items()):
        raise StreamSourceError(f"{path} must hold one JSON object: Kinesis Video Stream ARN -> source (a URL or a "
                                "camera device), both strings")
    return dict(data)


@dataclass(frozen=True)
class Processor:
    name: str
    request: dict[str, Any]  # CreateStreamProcessor's parameters (Tags apart), as updated
    tags: dict[str, str]
    status: str
    status_message: str | None
    wanted: str  # RUNNING or STOPPED: what a restarted server makes of it
    session_id: str | None
    created_at: float
    updated_at: float

    @property
    def collection_id(self) -> str:
        return str(self.request["Settings"]["FaceSearch"]["CollectionId"])


class ProcessorStore:
    def __init__(self, directory: Path) -> None:
        permissions.ensure_private_dir(directory)
        self._db = PrivateDatabase(directory / "stream_processors.db", _SCHEMA)

    def close(self) -> None:
        self._db.close()

    def create(self, name: str, request: dict[str, Any], tag_map: dict[str, str]) -> None:
        now = time.time()
        with self._db.transaction() as conn:
            if conn.execute("SELECT 1 FROM stream_processors WHERE name = ?", (name,)).fetchone():
                raise resource_in_use(f"a stream processor named {name} exists already")
            if conn.execute("SELECT count(*) FROM stream_processors").fetchone()[0] >= MAX_PROCESSORS:
                raise ServiceError("LimitExceededException", f"at most {MAX_PROCESSORS} stream processors")
            conn.execute("INSERT INTO stream_processors VALUES (?, ?, ?, ?, NULL, ?, NULL, ?, ?)",
                         (name, json.dumps(request), json.dumps(tag_map), STOPPED, STOPPED, now, now))

    def get(self, name: str) -> Processor | None:
        rows = self._db.query("SELECT * FROM stream_processors WHERE name = ?", (name,))
        return _processor(rows[0]) if rows else None

    def require(self, name: str) -> Processor:
        found = self.get(name)
        if found is None:
            raise not_found(f"The stream processor {name} does not exist")
        return found

    def all(self) -> list[Processor]:
        return [_processor(r) for r in self._db.query("SELECT * FROM stream_processors ORDER BY name")]

    def change(self, name: str, *, allowed: tuple[str, ...] | None = None, **values: Any) -> Processor:
        """Set columns of one processor (request/tags as objects); with `allowed`, only from those
        statuses (ResourceInUseException otherwise). The processor as changed."""
        with self._db.transaction() as conn:
            row = conn.execute("SELECT * FROM stream_processors WHERE name = ?", (name,)).fetchone()
            if row is None:
                raise not_found(f"The stream processor {name} does not exist")
            current = _processor(row)
            if allowed is not None and current.status not in allowed:
                raise resource_in_use(f"stream processor {name} is {current.status}")
            encoded = {k: json.dumps(v) if k in ("request", "tags") else v for k, v in values.items()}
            encoded["updated_at"] = time.time()
            conn.execute(f"UPDATE stream_processors SET {', '.join(f'{k} = ?' for k in encoded)} WHERE name = ?",
                         (*encoded.values(), name))
            row = conn.execute("SELECT * FROM stream_processors WHERE name = ?", (name,)).fetchone()
        return _processor(row)

    def delete(self, name: str, allowed: tuple[str, ...]) -> None:
        with self._db.transaction() as conn:
            row = conn.execute("SELECT status FROM stream_processors WHERE name = ?", (name,)).fetchone()
            if row is None:
                raise not_found(f"The stream processor {name} does not exist")
            if row[0] not in allowed:
                raise resource_in_use(f"stream processor {name} is {row[0]}: stop it first")
            conn.execute("DELETE FROM stream_processors WHERE name = ?", (name,))


def _processor(row: tuple[Any, ...]) -> Processor:
    return Processor(row[0], json.loads(row[1]), json.loads(row[2]), row[3], row[4], row[5], row[6], row[7], row[8])


def frame_record(stream_arn: str, faces: FrameFaces, tracks: Mapping[int, Track], size: tuple[int, int],
                 pack: PackInfo) -> dict[str, Any]:
    """Rekognition's Kinesis face search record of one analysed frame: each face of it with the faces
    of the collection its person matches (its track's latest search, judged at the processor's
    FaceMatchThreshold)."""
    stream_time = faces.timestamp
    width, height = size
    now = time.time()
    responses = []
    for tracked in faces.faces:
        track = tracks.get(tracked.track)
        search = track.search if track is not None else None
        matches = search.face_matches if search is not None else []
        detail = shapes.face_detail_of(tracked.face, pack, width, height)
        responses.append({
            "DetectedFace": {k: detail[k] for k in ("BoundingBox", "Confidence", "Landmarks", "Pose", "Quality")
                             if k in detail},
            "MatchedFaces": [{"Similarity": shapes.similarity(pack, m.similarity),
                              "Face": shapes.stored_face(m.face, pack)} for m in matches]})
    return {
        "InputInformation": {"KinesisVideo": {
            "StreamArn": stream_arn,
            # No Kinesis fragments here: the frame's time in the stream, in milliseconds, names it.
            "FragmentNumber": str(int(round(stream_time * 1000))),
            "ProducerTimestamp": round(now, 3), "ServerTimestamp": round(now, 3),
            "FrameOffsetInSeconds": round(stream_time, 3)}},
        "StreamProcessorInformation": {"Status": RUNNING},
        "FaceSearchResponse": responses,
    }


class StreamProcessors:
    """The processors of this server: the store, and one thread per running processor."""

    def __init__(self, directory: Path, sources: dict[str, str], kinesis: KinesisRecords,
                 open_collection: Callable[[str], FaceCollection], region: str) -> None:
        self.store = ProcessorStore(directory)
        self.sources = sources
        self.kinesis = kinesis
        self._open_collection = open_collection
        self.region = region
        self._runners: dict[str, _Runner] = {}
        self._lock = threading.Lock()
        self._closing = False

    def arn(self, name: str) -> str:
        return f"arn:aws:rekognition:{self.region}:{ACCOUNT}:streamprocessor/{name}"

    # -- requests -------------------------------------------------------------------------

    def check_request(self, request: dict[str, Any]) -> None:
        """What faceindex serves of a CreateStreamProcessor, checked before anything is stored."""
        settings = request["Settings"]
        if "ConnectedHome" in settings or not isinstance(settings.get("FaceSearch"), dict):
            raise invalid_parameter("faceindex serves face search stream processors (Settings.FaceSearch); "
                                    "label detection (ConnectedHome) is not served")
        if "CollectionId" not in settings["FaceSearch"]:
            raise invalid_parameter("Settings.FaceSearch.CollectionId is required")
        video = request["Input"].get("KinesisVideoStream", {}).get("Arn")
        if video is None:
            raise invalid_parameter("Input.KinesisVideoStream.Arn is required")
        if video not in self.sources:
            raise invalid_parameter(f"Input.KinesisVideoStream.Arn {video} is not one of the server's stream sources "
                                    "(faceindex serve --stream-sources FILE maps each Kinesis Video Stream ARN to a "
                                    "source it opens)")
        output = request["Output"]
        if "S3Destination" in output or not output.get("KinesisDataStream", {}).get("Arn"):
            raise invalid_parameter("a face search stream processor writes to Output.KinesisDataStream (its Arn)")
        self.kinesis.check(output["KinesisDataStream"]["Arn"])
        for member in ("RegionsOfInterest", "NotificationChannel"):
            if request.get(member):
                raise invalid_parameter(f"{member} applies to label detection stream processors, which faceindex "
                                        "does not serve")

    def create(self, name: str, request: dict[str, Any], tag_map: dict[str, str]) -> str:
        self.check_request(request)
        self._open_collection(request["Settings"]["FaceSearch"]["CollectionId"])  # ResourceNotFound now
        self.store.create(name, request, tags.merged({}, tag_map))
        return self.arn(name)

    def start(self, name: str) -> str:
        session = str(uuid.uuid4())
        processor = self.store.change(name, allowed=(STOPPED, FAILED), status=STARTING, status_message=None,
                                      wanted=RUNNING, session_id=session)
        self._run(processor)
        return session

    def stop(self, name: str) -> None:
        self.store.change(name, allowed=(STARTING, RUNNING), status=STOPPING, wanted=STOPPED)
        with self._lock:
            runner = self._runners.get(name)
        if runner is not None:
            runner.stop()
        else:  # no thread (it ended meanwhile): stopped now
            self.store.change(name, status=STOPPED)

    def delete(self, name: str) -> None:
        self.store.delete(name, allowed=(STOPPED, FAILED))

    def update(self, name: str, params: dict[str, Any]) -> None:
        """UpdateStreamProcessor: what applies to a face search processor is its DataSharingPreference."""
        if params.get("SettingsForUpdate") or params.get("RegionsOfInterestForUpdate") \
                or params.get("ParametersToDelete"):
            raise invalid_parameter("SettingsForUpdate, RegionsOfInterestForUpdate and ParametersToDelete apply to "
                                    "label detection stream processors, which faceindex does not serve")
        before = self.store.require(name)
        updating = self.store.change(name, allowed=(STOPPED, FAILED, RUNNING), status=UPDATING)
        request = dict(updating.request)
        if "DataSharingPreferenceForUpdate" in params:
            request["DataSharingPreference"] = params["DataSharingPreferenceForUpdate"]
        self.store.change(name, status=before.status, request=request)

    # -- running ------------------------------------------------------------------------------

    def resume(self) -> None:
        """At start: run again every processor that was running when the server stopped."""
        for processor in self.store.all():
            if processor.wanted == RUNNING:
                self._run(self.store.change(processor.name, status=STARTING, status_message=None))
            elif processor.status in (STARTING, RUNNING, STOPPING, UPDATING):
                self.store.change(processor.name, status=STOPPED)

    def _run(self, processor: Processor) -> None:
        with self._lock:
            if self._closing:
                return
            runner = _Runner(self, processor)
            self._runners[processor.name] = runner
        runner.start()

    def _ended(self, name: str, status: str, message: str | None) -> None:
        """A runner's end: STOPPED (asked to, or its stream ended) or FAILED, with why."""
        with self._lock:
            self._runners.pop(name, None)
            if self._closing:  # the server is stopping: the processor runs again at the next start
                return
        try:
            self.store.change(name, status=status, status_message=message, wanted=STOPPED)
        except ServiceError:  # deleted meanwhile
            pass

    def close(self, timeout: float = 30.0) -> None:
        """Stop every runner (each processor keeps what it should be doing for the next server)."""
        with self._lock:
            self._closing = True
            runners = list(self._runners.values())
        for runner in runners:
            runner.stop()
        for runner in runners:
            runner.join(timeout)
        self.store.close()


class _Runner:
    """One running processor: StreamSearch over its source, a record per analysed frame."""

    def __init__(self, owner: StreamProcessors, processor: Processor) -> None:
        self.owner = owner
        self.processor = processor
        self._stop = threading.Event()
        self._stream: Any = None
        self._thread = threading.Thread(target=self._main, name=f"faceindex-stream-processor-{processor.name}",
                                        daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        stream = self._stream
        if stream is not None:
            stream.stop()

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)

    def _main(self) -> None:
        name = self.processor.name
        try:
            status, message = self._search()
        except (FaceIndexError, ServiceError, OutputError) as e:
            status, message = FAILED, e.message if isinstance(e, ServiceError) else str(e)
        except Exception:
            log.exception("stream processor %s failed", name)
            status, message = FAILED, "internal error while processing the stream"
        if message is not None:  # the source the server opens is its own business: named by its ARN
            video_arn = self.processor.request["Input"]["KinesisVideoStream"]["Arn"]
            source = self.owner.sources.get(video_arn)
            if source:
                message = message.replace(source, video_arn)
        self.owner._ended(name, status, message)

    def _search(self) -> tuple[str, str | None]:
        from faceindex.video.face_tracking import SearchSettings  # the video extra: only when a processor runs
        from faceindex.video.stream import StreamSearch

        processor = self.processor
        settings = processor.request["Settings"]["FaceSearch"]
        collection = self.owner._open_collection(settings["CollectionId"])
        similarity = max(MIN_FACE_MATCH_THRESHOLD, float(settings.get("FaceMatchThreshold", 80.0)))
        wanted = accountability.requested(collection.pack, similarity)
        video_arn = processor.request["Input"]["KinesisVideoStream"]["Arn"]
        output_arn = processor.request["Output"]["KinesisDataStream"]["Arn"]
        source = self.owner.sources.get(video_arn)
        if source is None:
            raise invalid_parameter(f"{video_arn} is no longer one of the server's stream sources")
        engine = collection.engine
        pack = engine.pack

        def emit(faces: FrameFaces, tracks: Mapping[int, Track], size: tuple[int, int]) -> None:
            self.owner.kinesis.put(output_arn, processor.name, frame_record(video_arn, faces, tracks, size, pack))

        search = SearchSettings(threshold=wanted.threshold, max_fmr=wanted.max_fmr,
                                purpose="rekognition:StreamProcessor", reference=processor.name)
        if self._stop.is_set():
            return STOPPED, None
        stream = StreamSearch(source, engine, collection, search=search, on_frame=emit)
        self._stream = stream
        try:
            self.owner.store.change(processor.name, status=RUNNING)
            if self._stop.is_set():
                stream.stop()
            for _ in stream.events():
                if self._stop.is_set():
                    stream.stop()
        finally:
            stream.close()
        return (STOPPED, None) if self._stop.is_set() else (STOPPED, "the stream ended")
