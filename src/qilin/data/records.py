"""Raw records of data files: JSON and JSONL records, plain-text documents, and the error that names a bad one.

    for where, obj in iter_json_records(Path("sft.jsonl")):   # ("line 3", {...}) or ("line 4", DataError(...))
    require_field(obj, "prompt")                               # the value, or ValueError naming the field

Shared by the text formats (qilin.data.text.formats), the vision formats and every reader of user files.
Files users bring are read as UTF-8 with an optional byte-order mark (Windows Notepad and Excel write one):
`USER_ENCODING` drops it, so it never reaches the data.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from qilin.log import get_logger

log = get_logger(__name__)

# UTF-8 that drops a leading byte-order mark (U+FEFF) and reads files without one unchanged.
USER_ENCODING = "utf-8-sig"


class DataError(ValueError):
    """A bad input record: names the file, the line, the field and what was expected."""

    def __init__(self, path: str | Path, where: str, message: str):
        self.path, self.where, self.message = str(path), where, message
        super().__init__(f"{path}:{where}: {message}" if where else f"{path}: {message}")


def iter_json_records(path: Path) -> Iterator[tuple[str, Any]]:
    """Yield (location, parsed object) from a .jsonl file (one per line) or a .json array.

    A line that is not valid JSON yields a DataError in place of the object, so a checker can count every
    bad line and still report the first.
    """
    if path.suffix == ".json":
        try:
            data = json.loads(path.read_text(encoding=USER_ENCODING))
        except json.JSONDecodeError as e:
            yield f"line {e.lineno}", DataError(path, f"line {e.lineno}", f"not valid JSON: {e.msg}")
            return
        if not isinstance(data, list):
            yield "", DataError(path, "", "a .json file must hold a list of records; use .jsonl for one per line")
            return
        for i, obj in enumerate(data, 1):
            yield f"record {i}", obj
        return
    with path.open(encoding=USER_ENCODING) as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                yield f"line {lineno}", json.loads(line)
            except json.JSONDecodeError as e:
                yield f"line {lineno}", DataError(path, f"line {lineno}", f"not valid JSON: {e.msg}")


def require_field(record: Any, name: str, expected: type | tuple[type, ...] = str) -> Any:
    """`record[name]`, refused with a ValueError naming the field unless it is a non-empty value of `expected`."""
    if not isinstance(record, dict):
        raise ValueError(f"expected a JSON object, got {type(record).__name__}")
    if name not in record:
        raise ValueError(f"missing field '{name}' (fields present: {', '.join(record) or 'none'})")
    value = record[name]
    if not isinstance(value, expected):
        want = expected.__name__ if isinstance(expected, type) else " or ".join(t.__name__ for t in expected)
        raise ValueError(f"field '{name}': expected {want}, got {type(value).__name__}")
    if isinstance(value, (str, list)) and not value:
        raise ValueError(f"field '{name}': is empty")
    return value


_SNIFF_BYTES = 1 << 20


def text_layout(path: Path) -> str:
    """'paragraphs' when the file separates documents by blank lines (seen in its first MiB), else 'lines'."""
    with path.open("rb") as f:
        head = f.read(_SNIFF_BYTES).replace(b"\r\n", b"\n").strip(b"\n")
    return "paragraphs" if b"\n\n" in head else "lines"


def iter_text_documents(path: Path) -> Iterator[tuple[str, str]]:
    """Yield (location, document) from a .txt corpus, one document per line or per blank-line block."""
    layout = text_layout(path)
    with path.open(encoding=USER_ENCODING) as f:
        if layout == "lines":
            for lineno, line in enumerate(f, 1):
                if line.strip():
                    yield f"line {lineno}", line.strip()
            return
        block: list[str] = []
        start = 0
        for lineno, line in enumerate(f, 1):
            if line.strip():
                if not block:
                    start = lineno
                block.append(line.rstrip("\n"))
            elif block:
                yield f"line {start}", "\n".join(block).strip()
                block = []
        if block:
            yield f"line {start}", "\n".join(block).strip()


def expand_paths(paths: list[str] | list[Path], suffixes: tuple[str, ...], what: str = "data files") -> list[Path]:
    """The files named, a directory standing for its files with one of `suffixes` (sorted, named in the log).

    A directory holding none of them is refused with a message saying a directory was given.
    """
    files: list[Path] = []
    for name in paths:
        path = Path(name)
        if not path.is_dir():
            files.append(path)
            continue
        found = sorted(p for p in path.iterdir() if p.is_file() and p.suffix in suffixes)
        if not found:
            raise DataError(path, "", f"a directory was given where {what} are expected, and it holds no "
                            f"{' / '.join(suffixes)} files")  # fmt: skip
        log.info(f"{path}: a directory; reading its {len(found)} {what}: {', '.join(p.name for p in found)}")
        files += found
    return files
