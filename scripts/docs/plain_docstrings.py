"""A griffe extension (mkdocs.yml: the python handler's `extensions`): faceindex's docstrings are
plain prose, not Markdown and not Google style. Two of their habits would render wrongly as
Markdown, so each docstring is rewritten for the page (the source is untouched):

- a parameter paragraph, `name: what it does` at the left margin with indented continuation
  lines, becomes a list item with the name in bold (Markdown would run the paragraphs together);
- any other paragraph with indented lines was laid out by hand (a tree, a command) and is kept
  as preformatted text;
- `<` and `>` outside backticks are escaped (`<version>+<precision>` is text, not an HTML tag).
"""

from __future__ import annotations

import re
from typing import Any

import griffe

PARAMETER = re.compile(r"^(?P<names>[A-Za-z_][\w.]*(?:, [A-Za-z_][\w.]*)*): (?P<text>\S.*)$")


def markdown_of(text: str) -> str:
    paragraphs = text.split("\n\n")
    return "\n\n".join(paragraph_markdown(p.split("\n")) for p in paragraphs)


def paragraph_markdown(lines: list[str]) -> str:
    if PARAMETER.match(lines[0]):
        return parameters(lines)
    if lines[0].startswith("  ") or any(line.startswith("  ") for line in lines[1:]):
        return "\n".join(["```text", *lines, "```"])  # laid out by hand: a tree, a command, a table
    return "\n".join(escape(line) for line in lines)


def parameters(lines: list[str]) -> str:
    """`name: text` lines with indented continuations -> a Markdown list."""
    out: list[str] = []
    for line in lines:
        found = PARAMETER.match(line)
        if found:
            out.append(f"- **{found['names']}**: {escape(found['text'])}")
        else:
            out.append("  " + escape(line.strip()))
    return "\n".join(out)


def escape(line: str) -> str:
    """< and > as entities outside `code` spans."""
    parts = line.split("`")
    for i in range(0, len(parts), 2):
        parts[i] = parts[i].replace("<", "&lt;").replace(">", "&gt;")
    return "`".join(parts)


class PlainDocstrings(griffe.Extension):
    def on_instance(self, *, node: Any, obj: griffe.Object, agent: Any, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = markdown_of(obj.docstring.value)
