"""`faceindex audit COLLECTION`: the collection's audit log: every search, and every 1:1 decision
made through it (a face associated with a user who has faces). `faceindex compare` goes
through no collection and is not logged."""

from __future__ import annotations

import argparse
from datetime import datetime, timezone
from typing import Any

from faceindex.cli import numbers
from faceindex.cli.common import CliError, OptionGroups, Output, add_command, open_collection, plural
from faceindex.cli.results import how_chosen
from faceindex.errors import EXIT_OK, EXIT_USAGE


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser], groups: OptionGroups) -> None:
    p = add_command(commands, "audit", cmd_audit, "the audit log of a collection: every search of it, and every "
                    "face associated with a user who has faces (a 1:1 decision); `faceindex compare` uses no "
                    "collection and is not logged", [groups.common])
    p.add_argument("collection")
    p.add_argument("--since", help="from this ISO 8601 date or time on (UTC unless it says otherwise)")
    p.add_argument("--limit", type=numbers.positive, help="at most this many entries")


def cmd_audit(args: argparse.Namespace, out: Output) -> int:
    since = None
    if args.since:
        try:
            since = datetime.fromisoformat(args.since)
        except ValueError:
            raise CliError(f"--since must be an ISO 8601 date or time, got {args.since!r}", EXIT_USAGE) from None
        if since.tzinfo is None:
            since = since.replace(tzinfo=timezone.utc)
    with open_collection(args) as collection:
        log = collection.audit_log(since, args.limit)
    def line(e: Any) -> str:
        text = (f"{e.at.isoformat(timespec='seconds')}  {e.operation}  threshold {e.threshold:.4f} "
                f"({how_chosen(e)})")
        if e.fmr is not None:
            text += f"  FMR {e.fmr:.2g}"
        if e.fpir is not None:
            text += f"  FPIR {e.fpir:.2g}"
        text += f"  {plural(e.candidate_count, 'candidate')}"
        if e.purpose:
            text += f'  purpose "{e.purpose}"'
        if e.reference:
            text += f'  reference "{e.reference}"'
        return text

    out.emit({"entries": log}, lambda: [line(e) for e in log] or ["(no entries)"])
    return EXIT_OK
