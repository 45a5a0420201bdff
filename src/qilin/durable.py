"""Files that survive a kill: whole files replaced atomically, and JSONL logs appended and fsynced line by line.

write_atomic(out / "conversations.json", text)     # readers see the old file or the new one, never half
replace_dir_atomic(out / "model", model.save_pretrained)   # likewise for a whole directory
append_jsonl(out / "cache.jsonl", {"key": ..., "text": ...})   # on disk before the call returns
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any


def write_atomic(path: Path, text: str | bytes) -> None:
    """Write `text` (UTF-8) or bytes to a temporary file beside `path`, fsync it, then rename it over `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("wb") as f:
        f.write(text.encode("utf-8") if isinstance(text, str) else text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def replace_dir_atomic(out_dir: Path, fill: Callable[[Path], Any]) -> Path:
    """Fill a fresh `<out_dir>.tmp` with `fill(tmp)`, then swap it in for `out_dir`: a complete directory or none.

    A kill while filling leaves only `<out_dir>.tmp` (removed by the next call); `out_dir` is never half written.
    """
    tmp = out_dir.with_name(out_dir.name + ".tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    fill(tmp)
    if out_dir.exists():
        shutil.rmtree(out_dir)
    os.replace(tmp, out_dir)
    return out_dir


def append_jsonl(path: Path, row: Any) -> None:
    """Append one JSON line and fsync, so a kill right after the call cannot lose it."""
    line = json.dumps(row, ensure_ascii=False) + "\n"
    with path.open("a+b") as f:
        # A kill mid-write leaves a torn last line without its newline; start on a fresh line after it.
        if f.tell() > 0:
            f.seek(-1, os.SEEK_END)
            if f.read(1) != b"\n":
                line = "\n" + line
        f.write(line.encode("utf-8"))
        f.flush()
        os.fsync(f.fileno())


def read_jsonl_log(path: Path) -> Iterator[dict[str, Any]]:
    """The complete lines of a log written by `append_jsonl`; a torn line left by a kill is skipped."""
    if not path.is_file():
        return
    with path.open(encoding="utf-8") as f:
        for line in f:
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(row, dict):
                yield row


@contextmanager
def open_atomic(path: Path) -> Iterator[IO[str]]:
    """A UTF-8 text file streamed beside `path`, fsynced and renamed over it on success; on an error `path` is
    untouched (for outputs too large to hold in memory, where `write_atomic` needs the whole text)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    try:
        with tmp.open("w", encoding="utf-8", newline="") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, path)
