"""The user's documents stay true to the code: every command they show parses, every file and link they name exists.

Commands are read from README.md and docs/*.md: every line of a fenced code block that starts with `qilin `,
`make `, `python benchmarks/` or `PYTHONPATH=src python `, and every inline code span that starts with `qilin ` or
`python benchmarks/`. A `qilin` line in a code block is parsed by the real parser of the CLI (built in-process,
nothing executed), so a renamed verb or flag fails here, not in a user's terminal; an inline span, which may hold
placeholders (`FILES`, `...`), must name existing verbs and flags.
"""

from __future__ import annotations

import argparse
import functools
import re
import shlex
from dataclasses import dataclass
from pathlib import Path

import pytest

from qilin.cli.main import build_parser

# One parser for every check: argparse parsers are reusable, and building one imports every command group.
_parser = functools.lru_cache(maxsize=1)(build_parser)

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
COMMAND_STARTS = ("qilin ", "make ", "python benchmarks/", "PYTHONPATH=src python ")
# Repository paths that a page names in backticks must exist (placeholders and globs excepted).
REPO_PREFIXES = ("src/", "tests/", "benchmarks/", "recipes/")
FENCE = re.compile(r"^\s*(```|~~~)\s*(\S*)")
# Blocks of these languages (or none) hold commands; others (text, yaml, python) hold output or files.
SHELL = {"", "bash", "sh", "shell", "console"}
INLINE_CODE = re.compile(r"`([^`\n]+)`")
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")


@dataclass(frozen=True)
class Shown:
    """A command line as a page shows it."""

    page: str
    line: int
    text: str
    inline: bool

    def __str__(self) -> str:
        return f"{self.page}:{self.line}: {self.text}"


def _split_page(path: Path) -> tuple[list[tuple[int, str]], list[tuple[int, str]]]:
    """(shell code lines, prose lines) of a page, each with its 1-based line number; `\\` continuations joined."""
    code: list[tuple[int, str]] = []
    prose: list[tuple[int, str]] = []
    in_block, shell = False, False
    pending: tuple[int, str] | None = None
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        fence = FENCE.match(line)
        if fence:
            in_block, shell = not in_block, fence.group(2) in SHELL
            continue
        if not in_block:
            prose.append((number, line))
            continue
        if not shell:
            continue
        if pending is not None:
            line = pending[1] + " " + line.strip()
            number = pending[0]
            pending = None
        if line.rstrip().endswith("\\"):
            pending = (number, line.rstrip()[:-1])
            continue
        code.append((number, line))
    return code, prose


def _shown_commands() -> list[Shown]:
    """Every command line the documents show."""
    shown = []
    for path in DOCS:
        page = path.relative_to(ROOT).as_posix()
        code, prose = _split_page(path)
        for number, line in code:
            if line.strip().startswith(COMMAND_STARTS):
                shown.append(Shown(page, number, line.strip(), inline=False))
        for number, line in prose:
            for span in INLINE_CODE.findall(line):
                if span.startswith(("qilin ", "python benchmarks/")):
                    shown.append(Shown(page, number, span.strip(), inline=True))
    return shown


SHOWN = _shown_commands()


class _ParseError(Exception):
    pass


def _raise(self: argparse.ArgumentParser, message: str) -> None:
    raise _ParseError(f"{self.prog}: {message}")


def _parse_qilin(words: list[str], monkeypatch: pytest.MonkeyPatch) -> argparse.Namespace:
    """Parse as `qilin.cli.main` does (KEY=VALUE words argparse leaves over are overrides), without running."""
    monkeypatch.setattr(argparse.ArgumentParser, "error", _raise)
    parser = _parser()
    args, extra = parser.parse_known_args(words)
    if extra and (not hasattr(args, "overrides") or any(e.startswith("-") or "=" not in e for e in extra)):
        raise _ParseError(f"unrecognized arguments: {' '.join(extra)}")
    return args


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:  # argparse has no public accessor for a parser's subcommands
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _check_names(words: list[str]) -> None:
    """Verbs must exist and every flag, spelt in full, must belong to the (sub)command it follows.

    A placeholder where a verb goes (`qilin COMMAND --help`) ends the check.
    """
    parser = _parser()
    verbs = _subcommands(parser)
    for word in words:
        if word.startswith("-"):
            flag = word.split("=", 1)[0]
            if flag not in parser._option_string_actions:
                raise _ParseError(f"{parser.prog} has no option {flag}")
        elif verbs:
            if word not in verbs:
                if not re.fullmatch(r"[a-z][a-z0-9_-]*", word):
                    return  # a placeholder (COMMAND, FILES) or a path: nothing more to check
                raise _ParseError(f"{parser.prog} has no subcommand {word!r} (it has {', '.join(verbs)})")
            parser = verbs[word]
            verbs = _subcommands(parser)


def _words(text: str) -> list[str]:
    return shlex.split(text, comments=True)


def _check_benchmark(words: list[str]) -> None:
    script = ROOT / words[0]
    assert script.is_file(), f"{words[0]} does not exist"
    source = script.read_text(encoding="utf-8")
    for word in words[1:]:
        if word.startswith("--"):
            flag = word.split("=", 1)[0]
            assert f'"{flag}"' in source, f"{words[0]} has no option {flag}"


def _make_targets() -> set[str]:
    text = (ROOT / "Makefile").read_text(encoding="utf-8")
    return set(re.findall(r"^([A-Za-z0-9_-]+)\s*:(?!=)", text, flags=re.MULTILINE))


def test_the_documents_show_commands():
    """The extraction finds the commands it should (a broken reader would pass every check below vacuously)."""
    readme = [s.text for s in SHOWN if s.page == "README.md" and not s.inline]
    assert "make demo" in " ".join(readme) and "make test" in " ".join(readme)
    assert sum(1 for s in SHOWN if s.text.startswith("qilin ") and not s.inline) >= 40
    assert any(s.text.startswith("python benchmarks/") for s in SHOWN)


@pytest.mark.parametrize("shown", SHOWN, ids=str)
def test_every_shown_command_is_valid(shown: Shown, monkeypatch: pytest.MonkeyPatch):
    words = _words(shown.text)
    try:
        if words[0] == "qilin":
            if not shown.inline:
                _parse_qilin(words[1:], monkeypatch)
            _check_names(words[1:])  # argparse also takes a flag's prefix: the docs must show the whole name
        elif words[0] == "make":
            missing = set(words[1:]) - _make_targets()
            assert not missing, f"no Makefile target {sorted(missing)}"
        elif words[0] == "python":
            _check_benchmark(words[1:])
        else:  # PYTHONPATH=src python ...
            rest = words[2:]
            if rest[:2] == ["-m", "qilin.cli"]:
                _parse_qilin(rest[2:], monkeypatch)
                _check_names(rest[2:])
            elif rest[0] == "-m":
                module = ROOT / "src" / rest[1].replace(".", "/")
                assert module.with_suffix(".py").is_file() or module.is_dir(), f"no module {rest[1]}"
            elif rest[0].startswith("benchmarks/"):
                _check_benchmark(rest)
            else:
                assert (ROOT / rest[0]).is_file(), f"{rest[0]} does not exist"
    except _ParseError as e:
        pytest.fail(f"{shown}\n  {e}")
    except AssertionError as e:
        pytest.fail(f"{shown}\n  {e}")


def _named_paths() -> list[tuple[str, int, str]]:
    named = []
    for path in DOCS:
        page = path.relative_to(ROOT).as_posix()
        code, prose = _split_page(path)
        spans = [(n, span) for n, line in prose for span in INLINE_CODE.findall(line)]
        spans += [(n, line) for n, line in code if line.strip().startswith(COMMAND_STARTS)]
        for number, span in spans:
            for word in span.replace("(", " ").replace(")", " ").replace(",", " ").split():
                word = word.strip("'\"`:;.")
                if word.startswith(REPO_PREFIXES) and not re.search(r"[<>*{}\[\]]|\.\.\.|[A-Z]{3,}", word):
                    named.append((page, number, word))
    return named


def test_repository_paths_named_exist():
    missing = [f"{page}:{n}: {word}" for page, n, word in _named_paths() if not (ROOT / word).exists()]
    assert not missing, "paths the documents name that do not exist:\n" + "\n".join(missing)


def _slug(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    anchors: set[str] = set()
    _, prose = _split_page(path)
    for _, line in prose:
        match = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if match:
            slug = _slug(match.group(1))
            candidate, k = slug, 0
            while candidate in anchors:
                k += 1
                candidate = f"{slug}-{k}"
            anchors.add(candidate)
    return anchors


def test_relative_links_point_at_what_exists():
    broken = []
    for path in DOCS:
        page = path.relative_to(ROOT).as_posix()
        prose = "\n".join(line for _, line in _split_page(path)[1])
        for target in LINK.findall(prose):
            if re.match(r"^[a-z]+:", target):  # https:, mailto:
                continue
            file_part, _, anchor = target.partition("#")
            linked = (path.parent / file_part).resolve() if file_part else path
            if ROOT not in linked.parents and linked != ROOT:
                broken.append(f"{page}: {target} leaves the repository")
            elif not linked.exists():
                broken.append(f"{page}: {target} does not exist")
            elif anchor and linked.suffix == ".md" and anchor not in _anchors(linked):
                broken.append(f"{page}: {target} names no heading of {linked.name}")
    assert not broken, "\n".join(broken)


def test_readme_is_short_and_speaks_of_the_project():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) < 250
    for path in DOCS:
        text = path.read_text(encoding="utf-8")
        for pattern in (r"\bissues? #?\d+", r"/work/", r"\.\./shared", r"\bsessions?\b"):
            found = re.search(pattern, text, flags=re.IGNORECASE)
            assert not found, f"{path.relative_to(ROOT)}: {found.group(0)!r} is about how Qilin was made, not Qilin"
