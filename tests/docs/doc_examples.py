"""The examples of README.md and docs/*.md, found and run as a reader would run them.

Every fenced block must say what it is: an example to run (`python`, `console`, `bash`/`sh`/`shell`),
the output of the Python block above it (`output`), or text that is not run (`text`, `json`,
`ini`, `csv`, `toml`, `yaml`). An untagged or unknown fence is an error, so no example can slip
past the harness unrun.

- `python`: run in one namespace per page, in order (a later block may use what an earlier one
  made). When an `output` block follows, everything the block printed must match it.
- `console`: each `$ command` runs (continuation lines end with `\\`); the lines after it, up to
  the next `$`, are what it must print (stdout and stderr, as the terminal shows them). A command
  that exits non-zero fails the example unless the block says `<!-- example: exit N -->`.
- `bash`, `sh`, `shell`: run as one script; only its exit status is checked.
- In expected output, `...` matches anything (ids that change, paths of a temporary folder).

An HTML comment on the line before a fence (invisible on the rendered page) says more:
`<!-- example: skip: REASON -->` (not run, counted as skipped with the reason),
`<!-- example: exit N -->` (a console block whose last command exits with N),
`<!-- example: background: port N -->` (a console block whose one command is a server: started,
waited for until it accepts connections, stopped when the page is done). So that two runs never
compete for a port, the server runs on a free port, which replaces N wherever the page's later
examples name it as a port (`:N`, `--port N`).

Every page runs in a folder of its own that holds the example files under the names the pages
use (EXAMPLE_FILES: real photos and video of the test data), with FACEINDEX_HOME inside it.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
import traceback
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent.parent
RUN_LANGUAGES = {"python", "console", "bash", "sh", "shell"}
TEXT_LANGUAGES = {"text", "json", "ini", "csv", "toml", "yaml", "output"}
FENCE = re.compile(r"^(?P<indent>\s*)(?P<fence>`{3,}|~{3,})\s*(?P<lang>[^\s{`]*)")
MARKER = re.compile(r"^\s*<!--\s*example:\s*(?P<what>skip|exit|background)\s*:?\s*(?P<value>.*?)\s*-->\s*$")

# The names the pages use -> files of the test data (FACEINDEX_TEST_DATA).
EXAMPLE_FILES = {
    "obama-240p.jpg": "images/face_recognition/obama-240p.jpg",
    "obama-480p.jpg": "images/face_recognition/obama-480p.jpg",
    "obama-1080p.jpg": "images/face_recognition/obama-1080p.jpg",
    "two_people.jpg": "images/face_recognition/two_people.jpg",
    "group.jpg": "images/insightface/t1.jpg",
    "photos": "images/face_recognition/knn_examples/train",
    "queries": "images/face_recognition/knn_examples/test",
    "lin-manuel-miranda.png": "images/face_recognition/lin-manuel-miranda.png",
    "alex-lacamoire.png": "images/face_recognition/alex-lacamoire.png",
    "clip.mp4": "video/short_hamilton_clip.mp4",
    "det_500m.onnx": "models/scrfd/det_500m.onnx",
    "mobilefacenet.onnx": "models/mobilefacenet/mobilefacenet.onnx",
}


def pages() -> list[Path]:
    """README.md and every Markdown page under docs/ (a new page is picked up by itself)."""
    return [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md"))]


@dataclass
class Block:
    page: Path
    line: int  # of the opening fence, 1-based
    lang: str
    code: str
    output: str | None = None  # the `output` block after a python block
    skip: str | None = None
    exit_code: int = 0
    background_port: int | None = None

    @property
    def where(self) -> str:
        return f"{self.page.relative_to(REPO)}:{self.line}"


def parse(page: Path) -> list[Block]:
    """The runnable blocks of a page, each with its expected output and markers."""
    lines = page.read_text(encoding="utf-8").split("\n")
    blocks: list[Block] = []
    marker: tuple[str, str] | None = None
    i = 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            if lines[i].strip():
                found = MARKER.match(lines[i])
                marker = (found["what"], found["value"]) if found else None
                if lines[i].lstrip().startswith("<!-- example") and not found:
                    raise ValueError(f"{page.relative_to(REPO)}:{i + 1}: unreadable example marker: {lines[i]}")
            i += 1
            continue
        indent, fence, lang = len(m["indent"]), m["fence"], m["lang"].lower()
        start = i
        body: list[str] = []
        i += 1
        while i < len(lines) and not (lines[i].strip().startswith(fence) and lines[i].strip() == fence[0] * len(
                lines[i].strip())):
            body.append(lines[i][indent:] if lines[i][:indent].strip() == "" else lines[i])
            i += 1
        if i == len(lines):
            raise ValueError(f"{page.relative_to(REPO)}:{start + 1}: code block never closed")
        i += 1
        where = f"{page.relative_to(REPO)}:{start + 1}"
        if not lang:
            raise ValueError(f"{where}: a code block without a language: say `text` for text, "
                             f"or the language of an example ({', '.join(sorted(RUN_LANGUAGES))})")
        if lang not in RUN_LANGUAGES | TEXT_LANGUAGES:
            raise ValueError(f"{where}: unknown code block language {lang!r}")
        code = "\n".join(body)
        if lang == "output":
            if not blocks or blocks[-1].lang != "python" or blocks[-1].output is not None:
                raise ValueError(f"{where}: an output block must follow the python block it belongs to")
            if not code.replace("...", "").strip():
                raise ValueError(f"{where}: an output block must show some of the output, not only `...`")
            blocks[-1].output = code
        elif lang in RUN_LANGUAGES:
            if lang == "console":
                try:
                    console_commands(code)
                except ValueError as error:
                    raise ValueError(f"{where}: {error}") from None
            block = Block(page, start + 1, lang, code)
            if marker:
                what, value = marker
                if what == "skip":
                    if not value:
                        raise ValueError(f"{where}: a skipped example must say why")
                    block.skip = value
                elif what == "exit":
                    block.exit_code = int(value)
                else:
                    port = re.fullmatch(r"port\s+(\d+)", value)
                    if not port:
                        raise ValueError(f"{where}: background needs `port N`")
                    block.background_port = int(port[1])
            blocks.append(block)
        elif marker:
            raise ValueError(f"{where}: an example marker before a block that is not run")
        marker = None
    return blocks


def matches(expected: str, actual: str) -> bool:
    """doctest's ELLIPSIS: `...` matches any text; trailing spaces and blank edges are ignored."""
    expected, actual = normalise(expected), normalise(actual)
    pattern = "(?s:.*?)".join(re.escape(part) for part in expected.split("..."))
    return re.fullmatch(pattern, actual, flags=re.DOTALL) is not None


def normalise(text: str) -> str:
    return "\n".join(line.rstrip() for line in text.strip("\n").split("\n")).strip("\n")


@dataclass
class Command:
    text: str
    expected: str


def console_commands(code: str) -> list[Command]:
    commands: list[Command] = []
    lines = code.split("\n")
    i = 0
    while i < len(lines):
        if not lines[i].startswith("$ "):
            raise ValueError(f"a console block's text before its first `$ ` command: {lines[i]!r}")
        command = lines[i][2:]
        while command.endswith("\\") and i + 1 < len(lines):
            i += 1
            command = command[:-1] + " " + lines[i].strip()
        i += 1
        output: list[str] = []
        while i < len(lines) and not lines[i].startswith("$ "):
            output.append(lines[i])
            i += 1
        commands.append(Command(command, "\n".join(output)))
    return commands


class ExampleFailed(AssertionError):
    pass


def as_a_new_interpreter() -> None:
    """The warning filters of a fresh `python` (pytest's make every warning an error): a warning the
    command gives is printed on stderr, as the reader would see it, and the page must show it."""
    warnings.resetwarnings()
    warnings.simplefilter("default")
    for category in (DeprecationWarning, PendingDeprecationWarning, ImportWarning, ResourceWarning):
        warnings.simplefilter("ignore", category)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


SHELL_SYNTAX = set("|&;<>()$`\\\"'*?[]~{}=")


@dataclass
class PageRun:
    """One page's examples, run in order in the page's own folder and namespace."""

    page: Path
    blocks: list[Block]
    folder: Path
    data: Path
    env: dict[str, str] = field(default_factory=dict)
    namespace: dict[str, Any] = field(default_factory=dict)
    done: dict[int, str | None] = field(default_factory=dict)  # block index -> None (passed) or the failure
    servers: list[subprocess.Popen[bytes]] = field(default_factory=list)
    ports: dict[int, int] = field(default_factory=dict)  # a server's port on the page -> the free port it runs on

    def __post_init__(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        for name, relative in EXAMPLE_FILES.items():
            target = self.data / relative
            if target.exists():
                (self.folder / name).symlink_to(target)
        self.env = dict(os.environ)
        self.env["FACEINDEX_HOME"] = str(self.folder / "faceindex-home")
        self.env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{self.env.get('PATH', '')}"
        self.env.pop("FACEINDEX_KEY_FILE", None)
        self.env.pop("COLUMNS", None)
        self.namespace = {"__name__": "__main__"}

    def result(self, index: int) -> str | None:
        """Run the blocks up to `index` (those not yet run); the failure of block `index`, or None.
        Each block's failure is its own: a later block still runs (and fails by itself where it
        needed what the failed one would have made), so one broken example hides no other."""
        for i in range(index + 1):
            if i in self.done:
                continue
            block = self.blocks[i]
            if block.skip:
                self.done[i] = None
                continue
            try:
                self.run(block)
                self.done[i] = None
            except ExampleFailed as failure:
                self.done[i] = str(failure)
            except Exception:
                self.done[i] = f"{block.where}: the example raised\n{traceback.format_exc()}"
        if len(self.done) == len(self.blocks):
            self.close()
        return self.done[index]

    def close(self) -> None:
        for server in self.servers:
            if server.poll() is None:
                server.send_signal(signal.SIGTERM)
                try:
                    server.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    server.kill()
                    server.wait()
        self.servers.clear()
        self.namespace.clear()

    # -- one block ------------------------------------------------------------------------

    def run(self, block: Block) -> None:
        if block.background_port is not None:
            self.ports[block.background_port] = free_port()
        for shown, used in self.ports.items():  # the page's port, wherever it appears as one
            block = replace(block, code=re.sub(rf"(?<=[:\s]){shown}\b", str(used), block.code))
        if block.lang == "python":
            self.run_python(block)
        elif block.lang == "console":
            commands = console_commands(block.code)
            if block.background_port is not None:
                if len(commands) != 1:
                    raise ExampleFailed(f"{block.where}: a background block holds one command")
                self.start_server(block, commands[0].text, self.ports[block.background_port])
                return
            for n, command in enumerate(commands):
                want = block.exit_code if n == len(commands) - 1 else 0
                code, printed = self.run_command(command.text)
                if code != want:
                    raise ExampleFailed(f"{block.where}: `{command.text}` exited {code}, expected {want}; "
                                        f"it printed:\n{printed}")
                if command.expected.strip() and not matches(command.expected, printed):
                    raise ExampleFailed(f"{block.where}: `{command.text}` printed\n{printed}\n"
                                        f"where the page shows\n{command.expected}")
        else:
            code, printed = self.run_shell(block.code)
            if code != block.exit_code:
                raise ExampleFailed(f"{block.where}: the script exited {code}, expected {block.exit_code}; "
                                    f"it printed:\n{printed}")

    def run_python(self, block: Block) -> None:
        printed = io.StringIO()
        with self.inside(), contextlib.redirect_stdout(printed), contextlib.redirect_stderr(printed):
            exec(compile(block.code, block.where, "exec"), self.namespace)
        if block.output is not None and not matches(block.output, printed.getvalue()):
            raise ExampleFailed(f"{block.where}: the example printed\n{printed.getvalue()}\n"
                                f"where the page shows\n{block.output}")

    def run_command(self, command: str) -> tuple[int, str]:
        """A plain `faceindex ...` runs in this process (what the entry point runs, without the start-up
        of a new interpreter each time); anything with shell syntax runs in bash."""
        words = command.split()
        if words and words[0] == "faceindex" and not SHELL_SYNTAX & set(command):
            from faceindex.cli.run import main

            printed = io.StringIO()
            with self.inside(), contextlib.redirect_stdout(printed), contextlib.redirect_stderr(printed), \
                    warnings.catch_warnings():
                as_a_new_interpreter()
                code = main(shlex.split(command)[1:], stdout=printed, stderr=printed)
            return code, printed.getvalue()
        return self.run_shell(command)

    def run_shell(self, script: str) -> tuple[int, str]:
        """bash in the page's folder; what the script exports stays in the page's environment."""
        env_file = self.folder / ".example-env"
        wrapped = f"{script}\n__status=$?\nenv -0 > {shlex.quote(str(env_file))}\nexit $__status\n"
        done = subprocess.run(["bash", "-c", wrapped], cwd=self.folder, env=self.env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, timeout=600)
        if env_file.exists():
            pairs = [item.split("=", 1) for item in env_file.read_text().split("\0") if "=" in item]
            self.env = {k: v for k, v in pairs if k not in ("PWD", "OLDPWD", "SHLVL", "_", "__status")}
            env_file.unlink()
        return done.returncode, done.stdout.decode(errors="replace")

    def start_server(self, block: Block, command: str, port: int) -> None:
        log = self.folder / f".server-{len(self.servers)}.log"
        with log.open("wb") as sink:
            server = subprocess.Popen(["bash", "-c", f"exec {command}"], cwd=self.folder, env=self.env,
                                      stdout=sink, stderr=subprocess.STDOUT)
        self.servers.append(server)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if server.poll() is not None:
                err = log.read_text(errors="replace")
                raise ExampleFailed(f"{block.where}: `{command}` exited {server.returncode}:\n{err}")
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    return
            time.sleep(0.2)
        raise ExampleFailed(f"{block.where}: `{command}` did not accept connections on port {port} within 120 s")

    @contextlib.contextmanager
    def inside(self) -> Any:
        """The page's folder and environment for code run in this process."""
        saved_env, saved_cwd = dict(os.environ), os.getcwd()
        os.environ.clear()
        os.environ.update(self.env)
        os.chdir(self.folder)
        try:
            yield
        finally:
            os.chdir(saved_cwd)
            os.environ.clear()
            os.environ.update(saved_env)
