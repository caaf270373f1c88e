"""The command-line reference page, generated from the parser the `faceindex` command runs.

Each command and subcommand gets a heading and exactly what `faceindex ... --help` prints, so
the page can never disagree with the program (argparse writes the usage, options and defaults).
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Iterator

from faceindex.cli import run
from faceindex.cli.run import build_parser

WIDTH = "100"  # argparse wraps help at $COLUMNS: a fixed width keeps the page the same everywhere


def commands(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
             ) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser, str]]:
    """(words after `faceindex`, parser, one-line help) for the parser and every subcommand, depth first."""
    yield path, parser, parser.description or ""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {choice.dest: choice.help or "" for choice in action._choices_actions}
            for name, sub in action.choices.items():
                for words, found, summary in commands(sub, (*path, name)):
                    yield words, found, summary if words != (*path, name) else helps.get(name, summary)


def page() -> str:
    saved = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = WIDTH
    try:
        parser = build_parser()
        found = list(commands(parser))
        # run.py's docstring says what every command shares: --json and the exit codes.
        shared = " ".join((run.__doc__ or "").split("\n\n", 1)[1].split())
        lines = ["# Command line", "",
                 "Generated from the parser of the `faceindex` command: each section below is what "
                 "`faceindex COMMAND --help` prints.", "", shared, ""]
        lines += ["| command | what it does |", "| --- | --- |"]
        for words, _, summary in found[1:]:
            name = " ".join(("faceindex", *words))
            lines.append(f"| [`{name}`](#{anchor(words)}) | {summary} |")
        lines.append("")
        for words, sub, summary in found:
            name = " ".join(("faceindex", *words))
            lines += [f"## {name} {{#{anchor(words)}}}", ""]
            if summary and words:
                lines += [summary[0].upper() + summary[1:] + ".", ""]
            lines += ["```text", sub.format_help().rstrip(), "```", ""]
        if not words:
            raise AssertionError("the parser has no commands")
        return "\n".join(lines)
    finally:
        if saved is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = saved


def anchor(words: tuple[str, ...]) -> str:
    return "-".join(("faceindex", *words))
