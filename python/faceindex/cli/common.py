"""What every command group of `faceindex` shares: the output (human lines or one JSON
document), the usage error, the option groups several commands take, and opening the
collections and the engine a command names."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import numpy as np

from faceindex.backends.precision import PRECISIONS
from faceindex.cli import numbers
from faceindex.errors import FaceIndexError

if TYPE_CHECKING:
    from faceindex.collection import Collection, Collections
    from faceindex.engine import FaceEngine

Handler = Callable[[argparse.Namespace, "Output"], int]


class CliError(FaceIndexError):
    """A usage problem the command itself finds, with the exit code it warrants."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.exit_code = code


# -- output ------------------------------------------------------------------------------


def to_json(value: Any) -> Any:
    """Results as JSON values: dataclasses as objects, arrays as lists, times as ISO 8601.
    Embeddings are left out (they are biometric data and large)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_json(getattr(value, f.name)) for f in dataclasses.fields(value) if f.name != "embedding"}
    if isinstance(value, dict):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_json(v) for v in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    return value


class Output:
    def __init__(self, as_json: bool, stdout: TextIO) -> None:
        self.as_json, self.stdout = as_json, stdout

    def emit(self, value: Any, human: Callable[[], Sequence[str]]) -> None:
        if self.as_json:
            json.dump(to_json(value), self.stdout, indent=2)
            self.stdout.write("\n")
        else:
            for line in human():
                self.stdout.write(line + "\n")


def stderr_of(args: argparse.Namespace) -> TextIO:
    """Where warnings go: main()'s stderr (tests give their own), else the process's."""
    stream: TextIO = getattr(args, "stderr", None) or sys.stderr
    return stream


# -- the option groups several commands take ---------------------------------------------


@dataclass(frozen=True)
class OptionGroups:
    """Parent parsers: `common` (every command: --json, --home, --key-file), `engine` (the model
    pack and where it runs), `decision` (--max-fmr), `searching` (decision + --max-fpir and the
    audit notes)."""

    common: argparse.ArgumentParser
    engine: argparse.ArgumentParser
    decision: argparse.ArgumentParser
    searching: argparse.ArgumentParser


def option_groups() -> OptionGroups:
    common = argparse.ArgumentParser(add_help=False)
    # SUPPRESS: given before or after the command, the option counts.
    common.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="print one JSON document")
    common.add_argument("--home", default=argparse.SUPPRESS,
                        help="folder holding the collections (default: $FACEINDEX_HOME, else the user data folder)")
    common.add_argument("--key-file", default=argparse.SUPPRESS,
                        help="key of encrypted collections: a file of 32 raw bytes or 64 hex digits, owner-only "
                        "(default: $FACEINDEX_KEY_FILE; none: plain collections)")
    engine = argparse.ArgumentParser(add_help=False)
    engine.add_argument("--pack", default="dlib", help="model pack (default: dlib)")
    engine.add_argument("--backend", default="auto", help="inference backend: auto, onnxruntime, openvino, tensorrt "
                        "(default: auto)")
    engine.add_argument("--precision", choices=PRECISIONS, default=None,
                        help="network precision (default: the backend's own; auto: the fastest verified one)")
    engine.add_argument("--detector", help="detector ONNX file (with --recognizer: a custom pack)")
    engine.add_argument("--recognizer", help="recognizer ONNX file")
    engine.add_argument("--models-dir", metavar="DIR", help="folder of named ONNX packs, one sub-folder each "
                        "(default: $FACEINDEX_MODELS, else the user cache folder's models/)")
    engine.add_argument("--upsample", type=numbers.count, metavar="N",
                        help="dlib pack: double the image N times before looking for faces, to find small ones "
                        "(each costs about 4x the time; default: once, only where nothing is found)")
    decision = argparse.ArgumentParser(add_help=False)
    decision.add_argument("--max-fmr", type=numbers.rate, help="the threshold whose false-match rate per comparison is "
                          "at most this (from the pack's calibration table)")
    searching = argparse.ArgumentParser(add_help=False, parents=[decision])
    searching.add_argument("--max-fpir", type=numbers.rate, help="the threshold at which a search of someone not in the "
                           "collection returns a false candidate with at most this chance (default 0.01, and no "
                           "looser than FMR 1e-4 per comparison: on a small collection that floor decides)")
    searching.add_argument("--purpose", help="why this search is made (written to the audit log)")
    searching.add_argument("--reference", help="a case or request id (written to the audit log)")
    return OptionGroups(common, engine, decision, searching)


def add_command(group: Any, name: str, handler: Handler, help: str,
                parents: Sequence[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    """A subcommand of `group` running `handler`; parents: the option groups it takes (common first)."""
    sub: argparse.ArgumentParser = group.add_parser(name, parents=list(parents), help=help, description=help)
    sub.set_defaults(handler=handler, command_parser=sub)
    return sub


# -- what a command opens -----------------------------------------------------------------


def open_collections(args: argparse.Namespace) -> Collections:
    from faceindex.collection import Collections

    return Collections(args.home, key_file=args.key_file)


def warn_if_exposed(args: argparse.Namespace, collection_id: str) -> None:
    """A warning on stderr when the collection's files are open to group or others (biometric data)."""
    from faceindex.collection.permissions import exposure_warning

    directory = open_collections(args).path_of(collection_id)
    warning = exposure_warning(directory) if directory.is_dir() else None
    if warning:
        args.stderr.write(f"faceindex: warning: {warning}\n")


def open_collection(args: argparse.Namespace) -> Collection:
    warn_if_exposed(args, args.collection)
    return open_collections(args).collection(args.collection)


def make_engine(args: argparse.Namespace) -> FaceEngine:
    from faceindex.engine import FaceEngine
    from faceindex.errors import EXIT_USAGE

    if args.upsample is not None and (args.detector is not None or args.recognizer is not None or args.pack != "dlib"):
        raise CliError("--upsample is for the dlib pack; an ONNX pack finds small faces at its own detector size",
                       EXIT_USAGE)
    return FaceEngine(pack=args.pack, backend=args.backend, upsample=args.upsample, detector=args.detector,
                      recognizer=args.recognizer, models_dir=args.models_dir, precision=args.precision)


def inference(engine: FaceEngine) -> dict[str, str]:
    """Where a result's networks ran and at what precision, and why."""
    info = engine.pack
    return {"backend": info.backend, "precision": info.precision, "why": info.precision_reason}


def plural(n: int, noun: str, nouns: str | None = None) -> str:
    """ "1 face", "2 faces", "1,204 faces"."""
    return f"{n:,} {noun if n == 1 else (nouns or noun + 's')}"


def box(bbox: Sequence[float]) -> str:
    return "(" + ", ".join(f"{v:.0f}" for v in bbox) + ")"
