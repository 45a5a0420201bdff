"""Content hashes that decide whether work can be skipped or reused: files, model directories, settings.

    file_sha256(Path("sft.jsonl"))          # hex sha256 of the bytes
    digest({"lr": 1e-4, "data": [...]})      # hex sha256 of canonical JSON (sorted keys)

A leaf module: manifests, caches and indexes all hash through here, so two runs agree on what "unchanged" means.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any


def bytes_sha256(data: bytes) -> str:
    """Hex sha256 of bytes."""
    return hashlib.sha256(data).hexdigest()


def file_sha256(path: Path) -> str:
    """Content hash of a file, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with Path(path).open("rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def digest(obj: Any) -> str:
    """Hash of plain data as canonical JSON (sorted keys; other objects by their str)."""
    return bytes_sha256(json.dumps(obj, sort_keys=True, default=str).encode())


def model_dir_fingerprint(path: Path) -> str:
    """Hash of a user's model directory: small files by content, weight shards by name, size and mtime.

    Hashing 15 GB of weights on every run would cost minutes; a changed shard changes its size or mtime.
    """
    h = hashlib.sha256()
    for p in sorted(path.rglob("*")):
        if not p.is_file():
            continue
        stat = p.stat()
        h.update(str(p.relative_to(path)).encode())
        if stat.st_size < (16 << 20):
            h.update(file_sha256(p).encode())
        else:
            h.update(f"{stat.st_size}:{stat.st_mtime_ns}".encode())
    return h.hexdigest()
