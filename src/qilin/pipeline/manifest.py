"""The run directory's record of stages (manifest.json): inputs, fingerprints, outputs, metrics and status."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from qilin.distributed import is_main_process
from qilin.durable import write_atomic


def outcomes_path(run_dir: Path, stage: str) -> Path:
    """The per-item outcomes of a stage's evaluation (`eval/<stage>.json`), read by the report's paired tests."""
    return run_dir / "eval" / f"{stage}.json"


class Manifest:
    """The run directory's record of stages; every update is written through atomically.

    Only the main process writes it; the other processes of a launched run keep their copy in memory and
    re-read the file after each step the main process did first.
    """

    def __init__(self, run_dir: Path, recipe_name: str):
        self.path = run_dir / "manifest.json"
        self.data = {"recipe": recipe_name, "stages": {}}
        self.reload()

    def reload(self) -> None:
        """Read the file, if there is one."""
        if self.path.exists():
            self.data = json.loads(self.path.read_text())

    def stage(self, name: str) -> dict[str, Any]:
        """The stage's record (empty if the stage never ran)."""
        return self.data["stages"].get(name, {})

    def update(self, name: str, **fields: Any) -> None:
        """Merge `fields` into the stage's record and write the manifest."""
        self.data["stages"].setdefault(name, {}).update(fields)
        self.save()

    def forget(self, name: str) -> None:
        """Drop a stage's record and its per-item outcomes (an earlier model's) before it runs again."""
        self.data["stages"][name] = {}
        if is_main_process():
            outcomes_path(self.path.parent, name).unlink(missing_ok=True)

    def plan(self, stages: list[str]) -> None:
        """Record the stages the current recipe runs, base first: the report shows these and no other."""
        self.data["plan"] = list(stages)
        self.save()

    def save(self) -> None:
        """Write atomically so a killed run never leaves a truncated manifest."""
        if is_main_process():
            write_atomic(self.path, json.dumps(self.data, indent=2, ensure_ascii=False))
