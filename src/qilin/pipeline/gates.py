"""Checking a recipe's stage gates (`eval.gates`) once a stage is evaluated, and stopping a strict run.

A gate compares the stage's per-item outcomes of one metric with those of the model it is measured against (by
default the previous stage the recipe runs, the base model for the first) on the same items; the verdicts go into
the stage's record (`gates`) and the report. With `--gates strict` a failed gate stops the run before the next
stage: the stage's output and evaluation stay, and a rerun continues from there.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from qilin.config import ConfigError, GateSettings, Recipe, to_dict
from qilin.eval.gates import INCONCLUSIVE, gain_test, non_inferiority_test
from qilin.log import get_logger
from qilin.pipeline.manifest import Manifest, outcomes_path

log = get_logger(__name__)


class GateFailed(RuntimeError):
    """A stage failed one of its gates in a strict run."""


def _outcomes(run_dir: Path, stage: str, metric: str) -> dict[str, str] | None:
    path = outcomes_path(run_dir, stage)
    return json.loads(path.read_text()).get(metric) if path.is_file() else None


def check_gate(gate: GateSettings, against: str, run_dir: Path, manifest: Manifest) -> dict[str, Any]:
    """The verdict of one gate with its figures; a metric the stage did not measure is a recipe error."""
    evaluation = manifest.stage(gate.stage).get("evaluation", {})
    if gate.metric not in evaluation:
        proportions = [k for k, v in evaluation.items() if v.get("interval")]
        raise ConfigError(
            f"eval.gates: stage {gate.stage} measured no {gate.metric!r}; its proportions: {', '.join(proportions)}"
        )
    out: dict[str, Any] = {**to_dict(gate), "against": against}
    if against not in manifest.data.get("plan", [against]):
        return {**out, "verdict": INCONCLUSIVE, "figures": {"reason": f"this recipe does not run {against}"}}
    after, before = _outcomes(run_dir, gate.stage, gate.metric), _outcomes(run_dir, against, gate.metric)
    out["after"] = evaluation[gate.metric]["value"]
    out["before"] = manifest.stage(against).get("evaluation", {}).get(gate.metric, {}).get("value")
    if after is None or before is None or after["questions"] != before["questions"]:
        why = "no per-item outcomes" if after is None or before is None else "the two models scored different items"
        return {**out, "verdict": INCONCLUSIVE, "figures": {"reason": f"{why} for {gate.metric} ({against})"}}
    bits = ([c == "1" for c in before["correct"]], [c == "1" for c in after["correct"]])
    lower = evaluation[gate.metric].get("lower_is_better", False)
    if gate.test == "gain":
        verdict = gain_test(*bits, alpha=gate.alpha, lower_is_better=lower)
    else:
        verdict = non_inferiority_test(*bits, margin=gate.margin, alpha=gate.alpha, lower_is_better=lower)
    return {**out, "verdict": verdict.verdict, "figures": verdict.figures}


def check_stage_gates(name: str, recipe: Recipe, run_dir: Path, manifest: Manifest, strict: bool = False) -> None:
    """Check the gates of stage `name`, record them, and raise GateFailed on a failed one when `strict`."""
    gates = [g for g in recipe.eval.gates if g.stage == name]
    if not gates:
        manifest.update(name, gates=[])
        return
    plan = manifest.data.get("plan", [])
    previous = plan[plan.index(name) - 1] if name in plan and plan.index(name) > 0 else "base"
    results = [check_gate(g, g.against or previous, run_dir, manifest) for g in gates]
    manifest.update(name, gates=results)
    for r in results:
        log.info(f"[{name}] gate {r['test']} on {r['metric']} against {r['against']}: {r['verdict']} {r['figures']}")
    failed = [f"{r['test']} {r['metric']}" for r in results if r["verdict"] == "fail"]
    if strict and failed:
        raise GateFailed(
            f"stage {name} failed its gate(s) {', '.join(failed)}; its output stays, a rerun continues from here "
            "(see report.md, 'Stage gates')"
        )
