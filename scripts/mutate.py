"""Mutation testing over the code that decides who matches: `make mutate`.

    python scripts/mutate.py [GROUP ...] [--jobs N]

For each group of mutation/modules.toml (all by default): a copy of python/faceindex is staged in
build/mutation/<group>/src, with what the build adds beside the sources (the compiled _core, the
model and calibration files) taken from the installed package, and mutmut mutates that copy, never
the working tree. The group's tests run against the mutated copy (it comes first on sys.path); each
mutant runs only the group's tests that call its function, in a process forked for it, N at a time.

Then every verdict is read back, survivors are matched against mutation/equivalent.toml (mutants
shown to change nothing a caller can see, each with its reason; matched by function and changed
lines, so they follow the code when lines move), and mutation/report.md is written: per module the
mutants, killed, survived, equivalent and untested ones, the kill rate, and each survivor's diff.
A group that is not rerun keeps its figures from the last run (build/mutation/<group>/verdicts.json).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

REPO = Path(__file__).resolve().parent.parent
SOURCE = REPO / "python" / "faceindex"
CONFIG = REPO / "mutation" / "modules.toml"
EQUIVALENT = REPO / "mutation" / "equivalent.toml"
NAMED = REPO / "mutation" / "named.toml"
REPORT = REPO / "mutation" / "report.md"
BUILD = REPO / "build" / "mutation"
DATA = Path(os.environ.get("FACEINDEX_TEST_DATA", REPO.parent / "shared" / "data")).resolve()

# Lines whose expressions are not mutated: argparse's definitions of commands and options (help
# texts, defaults the parser checks) are not decisions, and the wording of exceptions is not either
# (their type and the condition that raises them are mutated).
DO_NOT_MUTATE = [r"\.add_argument\(", r"add_command\(", r"\.add_parser\(", r"\.add_subparsers\(",
                 r"\.add_mutually_exclusive_group\(", r"^\s*raise \w+\("]

# mutmut's exit codes -> verdicts (mutmut/stats.py); a timeout or a crash is a detected mutant.
DETECTED = {"killed", "timeout", "segfault"}


@dataclass(frozen=True)
class Group:
    name: str
    mutate: list[str]
    tests: list[str]


def groups() -> dict[str, Group]:
    config = tomllib.loads(CONFIG.read_text(encoding="utf-8"))
    found = {name: Group(name, list(g["mutate"]), list(g["tests"])) for name, g in config["groups"].items()}
    for g in found.values():
        missing = [m for m in g.mutate if not (SOURCE / m).is_file()]
        missing += [t for t in g.tests if not (REPO / t.split("::")[0]).exists()]
        if missing or not g.tests:
            raise SystemExit(f"{CONFIG.relative_to(REPO)}: group {g.name}: "
                             + (f"no such files: {', '.join(missing)}" if missing else "no tests"))
    return found


def installed_package() -> Path:
    spec = importlib.util.find_spec("faceindex")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("faceindex is not installed in this Python: run `make install` first")
    return Path(list(spec.submodule_search_locations)[0])


def stage(group: Group) -> Path:
    """build/mutation/<group>: the sources, the build's additions, the tests, mutmut's settings."""
    root = BUILD / group.name
    shutil.rmtree(root, ignore_errors=True)
    package = root / "src" / "faceindex"
    shutil.copytree(SOURCE, package, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    installed = installed_package()
    for path in installed.rglob("*"):
        relative = path.relative_to(installed)
        if path.is_file() and path.suffix not in (".py", ".pyc") and "__pycache__" not in relative.parts:
            target = package / relative
            if not target.exists():
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, target)
    stale = [str(p.relative_to(SOURCE)) for p in SOURCE.rglob("*.py")
             if (installed / p.relative_to(SOURCE)).is_file()
             and (installed / p.relative_to(SOURCE)).stat().st_mtime < p.stat().st_mtime
             and (installed / p.relative_to(SOURCE)).read_bytes() != p.read_bytes()]
    if stale:  # only the compiled part is taken from the install; say when it may be behind
        print(f"note: the installed package predates {', '.join(stale[:3])}: `make install` keeps _core current")
    (root / "tests").symlink_to(REPO / "tests")
    write_settings(root, group)
    return root


def write_settings(root: Path, group: Group) -> None:
    """mutmut's and pytest's settings for a staged group (mutmut starts over when its test settings change)."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    pytest_options = project["tool"]["pytest"]["ini_options"]
    settings = {
        "source_paths": ["src/faceindex"],
        "only_mutate": [f"src/faceindex/{m}" for m in group.mutate],
        "do_not_mutate_patterns": DO_NOT_MUTATE,
        "pytest_add_cli_args_test_selection": group.tests,
        # The same examples for every mutant, and none of one mutant's failures replayed for the next.
        "pytest_add_cli_args": ["-p", "no:cacheprovider", "--hypothesis-profile=mutation"],
        # The fork server imports pytest and the tests once; no test runs in the process that forks.
        "process_isolation": "forkserver",
        "use_git_change_detection": False,
        # mutmut's CPU limit is 30 x (the covering tests' call time + this): fixtures such as a model
        # engine's set-up are not in its estimate, so a mutant is not called a timeout for them.
        "timeout_constant": 20.0,
    }
    (root / "pyproject.toml").write_text(
        "[tool.mutmut]\n" + "".join(f"{k} = {toml_value(v)}\n" for k, v in settings.items())
        + "\n[tool.pytest.ini_options]\n" + "".join(f"{k} = {toml_value(v)}\n" for k, v in pytest_options.items()),
        encoding="utf-8")


def toml_value(value: Any) -> str:
    return json.dumps(value)  # strings, booleans and lists of strings: JSON spells them as TOML does


def refresh_sources(root: Path) -> None:
    """--resume: today's sources into a staged group; mutmut forgets the verdicts of every function
    whose code changed (it hashes each function) and tests their mutants again."""
    package = root / "src" / "faceindex"
    for path in SOURCE.rglob("*.py"):
        target = package / path.relative_to(SOURCE)
        if not target.is_file() or target.read_bytes() != path.read_bytes():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)


def run_group(group: Group, jobs: int, resume: bool = False, survivors_only: bool = False) -> dict[str, Any]:
    root = BUILD / group.name
    resume = resume and (root / "mutants").is_dir() and (root / "pyproject.toml").is_file()
    if resume:
        refresh_sources(root)
        write_settings(root, group)
    else:
        root = stage(group)
    env = dict(os.environ, FACEINDEX_TEST_DATA=str(DATA), FACEINDEX_TEST_CACHE=str(BUILD / "model-cache"),
               PYTHONDONTWRITEBYTECODE="1")
    env.pop("PYTHONPATH", None)
    mutmut = Path(sys.executable).parent / "mutmut"
    started = time.monotonic()
    print(f"== {group.name}{' (resumed)' if resume else ''}: {', '.join(group.mutate)} against "
          f"{', '.join(group.tests)}", flush=True)

    def mutmut_run(*names: str) -> None:
        with open(root / "mutmut.log", "a" if resume else "w") as log:
            code = subprocess.call([str(mutmut), "run", "--max-children", str(jobs), *names], cwd=root, env=env,
                                   stdout=log, stderr=subprocess.STDOUT)
        if code != 0:
            tail = (root / "mutmut.log").read_text(errors="replace")[-3000:]
            raise SystemExit(f"mutmut failed for group {group.name} (exit {code}); {root / 'mutmut.log'} ends:\n{tail}")

    def read() -> dict[str, Any]:
        # The verdicts and each survivor's diff, read by mutmut itself (its files are its own business).
        out = subprocess.run([sys.executable, __file__, "--read-verdicts"], cwd=root, env=env, check=True,
                             capture_output=True, text=True).stdout
        return dict(json.loads(out))

    # Fresh: every mutant. Resumed: every survivor of the last run that is not explained as equivalent
    # again, against today's tests (a killed one stays killed: tests are only ever made stronger), then
    # the mutants without a verdict (not reached before, or of a function whose code changed).
    if resume:  # (an equivalent one, explained in mutation/equivalent.toml, survives again: not run)
        equivalents = load_equivalents()
        again = [m["name"] for module, ms in read()["modules"].items() for m in ms
                 if m["status"] not in DETECTED and m["status"] != "not checked"
                 and (m["status"] != "survived" or explain(module, m, equivalents) is None)]
        if again:
            mutmut_run(*again)
    if not (resume and survivors_only):
        mutmut_run()
    verdicts = read()
    previous = root / "verdicts.json"
    earlier = json.loads(previous.read_text(encoding="utf-8")).get("seconds", 0) if resume and previous.is_file() else 0
    verdicts["seconds"] = earlier + round(time.monotonic() - started)
    verdicts["resumed"] = resume
    if resume and survivors_only and any(m["status"] == "not checked" for ms in verdicts["modules"].values() for m in ms):
        verdicts["partial"] = True
    verdicts["group"] = group.name
    verdicts["tests"] = group.tests
    (root / "verdicts.json").write_text(json.dumps(verdicts, indent=1), encoding="utf-8")
    return verdicts


def read_verdicts() -> None:
    """In a staged group's folder, after mutmut ran: every mutant's verdict, survivors with diffs."""
    from mutmut.__main__ import walk_mutatable_files
    from mutmut.mutation.data import SourceFileMutationData
    from mutmut.mutation.diff_apply import get_diff_for_mutant
    from mutmut.stats import status_by_exit_code

    modules: dict[str, Any] = {}
    for path in walk_mutatable_files():
        data = SourceFileMutationData(path=path)
        data.load()
        module = str(path).removeprefix("src/").removesuffix(".py").replace("/", ".")
        mutants = []
        for name, exit_code in sorted(data.exit_code_by_key.items()):
            status = status_by_exit_code[exit_code]
            entry = {"name": name, "status": status}
            if status not in DETECTED:
                entry["diff"] = get_diff_for_mutant(name, path=path)
            mutants.append(entry)
        modules[module] = mutants
    json.dump({"modules": modules}, sys.stdout)


def run_named() -> list[dict[str, Any]]:
    """The hand-made wrong decisions of mutation/named.toml, one at a time on a copy of the sources
    (build/mutation/named/src, the installed _core beside it), each against its tests: killed when
    they fail."""
    entries = tomllib.loads(NAMED.read_text(encoding="utf-8")).get("named", [])
    root = BUILD / "named"
    shutil.rmtree(root, ignore_errors=True)
    package = root / "src" / "faceindex"
    shutil.copytree(SOURCE, package, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    installed = installed_package()
    for path in installed.rglob("*"):
        relative = path.relative_to(installed)
        if path.is_file() and path.suffix not in (".py", ".pyc") and "__pycache__" not in relative.parts:
            (package / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, package / relative)
    env = dict(os.environ, FACEINDEX_TEST_DATA=str(DATA), FACEINDEX_TEST_CACHE=str(BUILD / "model-cache"),
               PYTHONPATH=str(root / "src"), PYTHONDONTWRITEBYTECODE="1")
    every_test = sorted({t for e in entries for t in e["tests"]})
    clean = subprocess.call([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *every_test], cwd=REPO,
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if clean != 0:  # a mutant "killed" by tests that fail anyway would prove nothing
        raise SystemExit(f"the tests of mutation/named.toml fail on the unchanged sources (exit {clean})")
    results = []
    for e in entries:
        target = package / e["file"]
        original = target.read_text(encoding="utf-8")
        if original.count(e["from"]) != 1:
            raise SystemExit(f"{NAMED.relative_to(REPO)}: {e['what']}: {e['from']!r} is not once in {e['file']}")
        target.write_text(original.replace(e["from"], e["to"]), encoding="utf-8")
        try:
            code = subprocess.call([sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *e["tests"]],
                                   cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        finally:
            target.write_text(original, encoding="utf-8")
        if code not in (0, 1):
            raise SystemExit(f"named mutant '{e['what']}': pytest could not run {e['tests']} (exit {code})")
        results.append({"what": e["what"], "file": e["file"], "from": e["from"], "to": e["to"],
                        "tests": e["tests"], "killed": code == 1})
        print(f"   {'killed' if code == 1 else 'SURVIVED'}: {e['what']}", flush=True)
    (root / "verdicts.json").write_text(json.dumps(results, indent=1), encoding="utf-8")
    return results


# -- equivalents and the report ---------------------------------------------------------------


def changed_lines(diff: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """A diff's removed and added lines, stripped: what identifies a mutant wherever its lines are."""
    lines = [line for line in diff.splitlines() if not line.startswith(("---", "+++", "@@"))]
    return (tuple(line[1:].strip() for line in lines if line.startswith("-")),
            tuple(line[1:].strip() for line in lines if line.startswith("+")))


def function_of(mutant: str) -> str:
    """faceindex.collection.matching.x_face_matches__mutmut_3 -> face_matches (xǁClassǁmethod -> Class.method)."""
    mangled = mutant.rsplit(".", 1)[-1].split("__mutmut_")[0]
    return mangled[2:].replace("ǁ", ".")  # both prefixes, "x_" and "xǁ", are two characters


def load_equivalents() -> list[dict[str, Any]]:
    if not EQUIVALENT.is_file():
        return []
    entries = tomllib.loads(EQUIVALENT.read_text(encoding="utf-8")).get("equivalent", [])
    for e in entries:
        missing = {"module", "function", "from", "to", "reason"} - set(e)
        if missing:
            raise SystemExit(f"{EQUIVALENT.relative_to(REPO)}: an entry lacks {', '.join(sorted(missing))}: {e}")
    return list(entries)


def as_lines(value: str | list[str]) -> tuple[str, ...]:
    return tuple(line.strip() for line in ([value] if isinstance(value, str) else value))


def explain(module: str, mutant: dict[str, Any], equivalents: list[dict[str, Any]]) -> dict[str, Any] | None:
    removed, added = changed_lines(mutant["diff"])
    for e in equivalents:
        if (e["module"] == module and e["function"] == function_of(mutant["name"])
                and as_lines(e["from"]) == removed and as_lines(e["to"]) == added):
            return e
    return None


def write_report(results: list[dict[str, Any]], config: dict[str, Group], named: list[dict[str, Any]]) -> str:
    equivalents = load_equivalents()
    used: set[int] = set()
    rows, survivors, explained = [], [], []
    total = {"mutants": 0, "killed": 0, "timeout": 0, "equivalent": 0, "survived": 0, "untested": 0, "not_run": 0,
             "other": 0}
    for result in results:
        for module, mutants in sorted(result["modules"].items()):
            counts = dict.fromkeys(total, 0)
            for m in mutants:
                counts["mutants"] += 1
                if m["status"] in DETECTED:
                    counts["killed"] += 1
                    counts["timeout"] += m["status"] == "timeout"
                    continue
                reason = explain(module, m, equivalents) if m["status"] == "survived" else None
                if reason is not None:
                    used.add(id(reason))
                    counts["equivalent"] += 1
                    explained.append((module, m, reason))
                elif m["status"] == "survived":
                    counts["survived"] += 1
                    survivors.append((module, m))
                elif m["status"] == "no tests":
                    counts["untested"] += 1
                    survivors.append((module, m))
                elif m["status"] == "not checked":  # a run stopped before it came to them
                    counts["not_run"] += 1
                else:
                    counts["other"] += 1
                    survivors.append((module, m))
            for k in total:
                total[k] += counts[k]
            rows.append((result["group"], module, counts, result.get("seconds")))
    stale = [e for e in equivalents if id(e) not in used
             and any(e["module"] in r["modules"] for r in results)]

    def rate(c: dict[str, int]) -> str:
        judged = c["mutants"] - c["equivalent"] - c["not_run"]
        return f"{100.0 * c['killed'] / judged:.1f}%" if judged else "-"

    out = ["# Mutation testing: the code that decides who matches", "",
           "Written by `make mutate` (scripts/mutate.py, mutmut over the groups of mutation/modules.toml). "
           "Kill rate: killed / (mutants - equivalent - not run). Killed includes the mutants that made the tests run "
           "past mutmut's CPU limit (timeout: 30 x their usual time + 20 s); a mutant no test of its group "
           "reaches (untested) counts as not killed. Lines not mutated: " + ", ".join(f"`{p}`" for p in DO_NOT_MUTATE)
           + " (argparse's definitions and the wording of exceptions).", "",
           "| group | module | mutants | killed | of which timeout | survived | equivalent | untested | not run "
           "| other | kill rate |",
           "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for group, module, c, _ in rows:
        out.append(f"| {group} | {module} | {c['mutants']} | {c['killed']} | {c['timeout']} | {c['survived']} "
                   f"| {c['equivalent']} | {c['untested']} | {c['not_run']} | {c['other']} | {rate(c)} |")
    out.append(f"| **all** | | {total['mutants']} | {total['killed']} | {total['timeout']} | {total['survived']} | "
               f"{total['equivalent']} | {total['untested']} | {total['not_run']} | {total['other']} "
               f"| **{rate(total)}** |")
    out += ["", "The tests each group ran (each mutant: those among them that call its function), and how long "
            "the group took:", ""]
    for result in results:
        tests = result.get("tests") or (config[result["group"]].tests if result["group"] in config else [])
        seconds = result.get("seconds")
        took = f"{seconds} s" + (", resumed: see --resume" if result.get("resumed") else "") if seconds is not None else ""
        if result.get("partial"):
            took = "stopped before the end: the kill rate is of the mutants run, those not run are counted apart"
        out.append(f"- {result['group']}: {', '.join(tests)}" + (f" ({took})" if took else ""))
    if named:
        out += ["", "## Wrong decisions made by hand (mutation/named.toml)", "",
                "| change | file | caught by | killed |", "| --- | --- | --- | --- |"]
        out += [f"| {n['what']} | {n['file']} | {', '.join(n['tests'])} | {'yes' if n['killed'] else '**no**'} |"
                for n in named]
    if survivors:
        out += ["", "## Not killed and not explained", ""]
        for _, m in survivors:
            out += [f"### {m['name']} ({m['status']})", "", "```diff", m["diff"], "```", ""]
    if explained:
        out += ["", "## Equivalent mutants (mutation/equivalent.toml)", ""]
        for module, _, e in explained:
            change = "; ".join(as_lines(e["from"])) + " -> " + "; ".join(as_lines(e["to"]))
            out.append(f"- `{module}.{e['function']}`: `{change}`: {e['reason']}")
    if stale:
        out += ["", "## Entries of mutation/equivalent.toml that matched no survivor (code changed, or now killed)",
                ""]
        out += [f"- `{e['module']}.{e['function']}`: `{e['from']}` -> `{e['to']}`" for e in stale]
    return "\n".join(out) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("groups", nargs="*", help="groups of mutation/modules.toml to run (default: all)")
    parser.add_argument("--jobs", type=int, default=2, help="mutants tested at once (default 2)")
    parser.add_argument("--report-only", action="store_true", help="write the report from the last runs")
    parser.add_argument("--named", action="store_true", help="only the wrong decisions of mutation/named.toml")
    parser.add_argument("--survivors-only", action="store_true",
                        help="with --resume: judge the survivors again, and leave the mutants not yet run")
    parser.add_argument("--resume", action="store_true",
                        help="go on with the groups' last runs: test the mutants without a verdict and every "
                        "survivor again, after today's sources are copied in")
    parser.add_argument("--read-verdicts", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.read_verdicts:
        read_verdicts()
        return
    if args.named:
        run_named()
    config = groups()
    unknown = [g for g in args.groups if g not in config]
    if unknown:
        raise SystemExit(f"no such group(s) {unknown}; mutation/modules.toml has {sorted(config)}")
    if not args.report_only and not args.named:
        if not args.groups:
            print("== named: the wrong decisions of mutation/named.toml", flush=True)
            run_named()
        for name in args.groups or list(config):
            run_group(config[name], args.jobs, args.resume, args.survivors_only)
    results = []
    for name in config:
        saved = BUILD / name / "verdicts.json"
        if saved.is_file():
            results.append(json.loads(saved.read_text(encoding="utf-8")))
        elif (BUILD / name / "mutants").is_dir():  # a run stopped part-way: what it judged so far
            out = subprocess.run([sys.executable, __file__, "--read-verdicts"], cwd=BUILD / name, check=True,
                                 capture_output=True, text=True).stdout
            results.append(dict(json.loads(out), group=name, tests=config[name].tests, partial=True))
    saved_named = BUILD / "named" / "verdicts.json"
    named = json.loads(saved_named.read_text(encoding="utf-8")) if saved_named.is_file() else []
    REPORT.write_text(write_report(results, config, named), encoding="utf-8")
    if any(not n["killed"] for n in named):
        raise SystemExit("a wrong decision of mutation/named.toml went unnoticed: see mutation/report.md")
    print(f"wrote {REPORT.relative_to(REPO)}")


if __name__ == "__main__":
    main()
