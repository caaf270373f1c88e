"""`faceindex audit COLLECTION`: the collection's audit log of searches."""

from __future__ import annotations

import argparse
from datetime import datetime, timezone

from faceindex.cli import numbers
from faceindex.cli.common import CliError, OptionGroups, Output, add_command, open_collection
from faceindex.errors import EXIT_OK, EXIT_USAGE


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser], groups: OptionGroups) -> None:
    p = add_command(commands, "audit", cmd_audit, "the audit log of a collection: every search and compare",
                    [groups.common])
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
    out.emit({"entries": log}, lambda: [
        f"{e.at.isoformat(timespec='seconds')}  {e.operation}  threshold {e.threshold:.4f} ({e.chosen_by}"
        + (f" {e.requested:g}" if e.requested is not None else "") + ")"
        + (f"  FMR {e.fmr:.2g}" if e.fmr is not None else "") + (f"  FPIR {e.fpir:.2g}" if e.fpir is not None else "")
        + f"  {e.candidate_count} candidates" + (f"  purpose {e.purpose!r}" if e.purpose else "")
        + (f"  ref {e.reference!r}" if e.reference else "") for e in log] or ["(no entries)"])
    return EXIT_OK
