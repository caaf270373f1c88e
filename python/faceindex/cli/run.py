"""The `faceindex` command: the parser assembled from the command groups, and main().

Every command takes --json (one JSON document on stdout). Exit codes:
0 done; 1 done, but some inputs failed (index); 2 bad usage; 3 not found
(collection, face, user, file); 4 bad input (an image that cannot be read or
holds no face, a damaged or foreign collection file, a bad value);
5 conflict (the id exists, another model pack); 130 interrupted.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import warnings
from collections.abc import Sequence
from typing import TextIO

from faceindex.cli import (
    audit,
    cohort,
    collection,
    evaluation,
    faces,
    images,
    indexing,
    ray_options,
    search,
    serve,
    stream,
    users,
    video,
)
from faceindex.cli.common import Output, option_groups
from faceindex.errors import EXIT_BAD_INPUT, EXIT_NOT_FOUND, EXIT_PARTIAL, FaceIndexError


def build_parser() -> argparse.ArgumentParser:
    groups = option_groups()
    parser = argparse.ArgumentParser(prog="faceindex", parents=[groups.common],
                                     description="Self-hosted face recognition: collections of faces on your own disk.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    parsers = collection.add_commands(commands, groups)
    index = indexing.add_commands(commands, groups)
    ray_options.add_ray_options(parsers["create"], index, parsers["list"], parsers["describe"], parsers["delete"])
    search.add_commands(commands, groups)
    images.add_compare(commands, groups)
    images.add_detect(commands, groups)
    stream.add_commands(commands, groups)
    faces.add_commands(commands, groups)
    users.add_commands(commands, groups)
    audit.add_commands(commands, groups)
    evaluation.add_calibrate(commands, groups)
    evaluation.add_eval(commands, groups)
    cohort.add_commands(commands, groups)
    video.add_commands(commands, groups)
    serve.add_commands(commands, groups)
    return parser


def _exit_code(error: BaseException) -> int | None:
    """The exit code for an error the user can act on; None for a bug (it keeps its traceback)."""
    from faceindex.collection import dbapi

    if isinstance(error, FaceIndexError):
        return error.exit_code
    if isinstance(error, FileNotFoundError):
        return EXIT_NOT_FOUND
    if isinstance(error, ValueError):
        return EXIT_BAD_INPUT
    if isinstance(error, (OSError, *dbapi.errors(), ImportError)):
        return EXIT_PARTIAL
    return None


# A Python argument named in a message: `threshold=`, `max_fmr=1e-06`, or a bare `max_fmr`
# (a name with an underscore is never an English word).
_PYTHON_ARGUMENT = re.compile(r"\b([a-z][a-z0-9]*(?:_[a-z0-9]+)+|[a-z][a-z0-9]*(?==))(=?)(?=(\S?))")


def in_cli_terms(message: str, command: argparse.ArgumentParser | None) -> str:
    """A library message in the command's terms: the Python argument `max_fmr=1e-06`, `max_fmr`
    or `models_dir=` it names becomes the option `--max-fmr 1e-06`, `--max-fmr` or `--models-dir`,
    where the command has that option."""
    if command is None:
        return message
    options = {action.dest: next((o for o in action.option_strings if o.startswith("--")), action.option_strings[0])
               for action in command._actions if action.option_strings}

    def option(match: re.Match[str]) -> str:
        name, equals, following = match.group(1), match.group(2), match.group(3)
        if name not in options:
            return match.group(0)
        return options[name] + (" " if equals and following and following not in ",;.)" else "")

    return _PYTHON_ARGUMENT.sub(option, message)


def _one_line_warnings(stderr: TextIO) -> object:
    """warnings.showwarning for the command: `faceindex: warning: ...`, one line, no source code,
    each message once."""
    said: set[str] = set()

    def show(message: Warning | str, category: type[Warning], filename: str, lineno: int,
             file: TextIO | None = None, line: str | None = None) -> None:
        text = " ".join(str(message).split())
        if text not in said:
            said.add(text)
            stderr.write(f"faceindex: warning: {text}\n")

    return show


def main(argv: Sequence[str] | None = None, stdout: TextIO | None = None,
         stderr: TextIO | None = None) -> int:
    stdout = stdout or sys.stdout
    stderr = stderr or sys.stderr
    with warnings.catch_warnings():
        warnings.showwarning = _one_line_warnings(stderr)  # type: ignore[assignment]
        return _main(argv, stdout, stderr)


def _main(argv: Sequence[str] | None, stdout: TextIO, stderr: TextIO) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # argparse has printed the usage error
        return int(e.code or 0)
    args.json = getattr(args, "json", False)
    args.home = getattr(args, "home", None)
    args.key_file = getattr(args, "key_file", None)
    args.stderr = stderr
    out = Output(args.json, stdout)
    try:
        return int(args.handler(args, out))
    except KeyboardInterrupt:
        stderr.write("faceindex: interrupted\n")
        return 130
    except BrokenPipeError:  # `faceindex ... | head`: the reader left; nothing more to say
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_PARTIAL
    except Exception as error:
        code = _exit_code(error)
        if code is None:
            raise
        message = str(error.args[0]) if isinstance(error, KeyError) and error.args else str(error)
        message = in_cli_terms(message, getattr(args, "command_parser", None))
        stderr.write(f"faceindex: error: {message}\n")
        if args.json:
            json.dump({"error": {"type": type(error).__name__, "message": message, "exit_code": code}}, stdout)
            stdout.write("\n")
        return code
