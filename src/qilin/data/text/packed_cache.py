"""The shared cache of packed corpora: `$QILIN_CACHE/cpt` (QILIN_CACHE defaults to ~/.cache/qilin, like HF_HOME).

A stage directory is deleted when the stage's config changes (a new learning rate, say); the packed corpus does
not depend on that, so it lives here, keyed by what does change its bytes, and a rerun reuses it instead of
tokenizing again. Safe when runs share it: one writer per key at a time (a file lock; the others wait and then
find the result), every writer writes under its own temporary name, and a crashed writer's leftovers are
removed by the next writer of the same key.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Callable
from pathlib import Path

from qilin.log import get_logger

log = get_logger(__name__)

_WAIT_POLL_SECONDS = 2.0


def cache_dir(kind: str) -> Path:
    """`$QILIN_CACHE/<kind>`, QILIN_CACHE defaulting to ~/.cache/qilin."""
    return Path(os.environ.get("QILIN_CACHE") or "~/.cache/qilin").expanduser() / kind


def build_once(path: Path, build: Callable[[], object]) -> bool:
    """Run `build` (which must create `path` atomically) unless `path` exists; True if it built.

    Holds an exclusive lock on `<path>.lock` while it checks and builds, so of two runs wanting the same file one
    builds and the other waits, then finds it. The kernel drops the lock when its holder dies, so a crash never
    leaves the cache locked.
    """
    if path.exists():
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    lock_path = path.with_name(path.name + ".lock")
    with lock_path.open("a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log.info(f"waiting for another process building {path.name} (lock {lock_path})")
            fcntl.flock(lock, fcntl.LOCK_EX)
        if path.exists():  # built by the process we waited for
            return False
        stem = path.name.split(".")[0]
        for leftover in path.parent.glob(f"{stem}.*tmp-*"):  # we hold the lock: no live writer owns these
            leftover.unlink(missing_ok=True)
        build()
        return True


def wait_for_file(path: Path, what: str) -> None:
    """Block until `path` exists (another process is building it), saying so once."""
    if path.exists():
        return
    log.info(f"waiting for the main process to build {what} ({path})")
    while not path.exists():
        time.sleep(_WAIT_POLL_SECONDS)
