"""DPO step time with the reference scored every step against the reference log-probs cache, full and LoRA.

    .venv/bin/python benchmarks/dpo_ref_cache.py [--model DIR] [--pairs 160] [--steps 12] [--rounds 3]
                                                 [--batch-size 4] [--threads N]

The same DPO training (the bundled miniature ChiMed preference pairs, a demo-sized Llama built from
EmbeddedModelSettings() unless --model names one) runs three ways per fine-tuning mode, in one process:
`cache_reference: false` (trl scores the reference in every step), `true` with no cache yet (the pairs are
scored once, then saved), and `true` again with a fresh stage directory (the cache is loaded). The three are
interleaved round by round, so that other jobs on a shared machine slow each alike. Prints mean and median
step time of each (the first steps of a run left out as warm-up), the one-off cost of building the cache and
of loading it (best of the rounds), the speed ratio, the steps after which building the cache has paid for
itself, and the training loss of each (equal: the cache changes no number).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from transformers import TrainerCallback

from qilin.config import DpoSettings, EmbeddedModelSettings, LoraSettings, ModelSettings
from qilin.hashing import file_sha256
from qilin.stages import dpo
from qilin.stages.protocol import StageContext
from qilin.training.reference_cache import CachedReferenceDPOTrainer

WARMUP_STEPS = 2


class StepTimer(TrainerCallback):
    """Wall time of every optimizer step."""

    def __init__(self) -> None:
        self.seconds: list[float] = []

    def on_step_begin(self, args, state, control, **kwargs) -> None:
        self._start = time.perf_counter()

    def on_step_end(self, args, state, control, **kwargs) -> None:
        self.seconds.append(time.perf_counter() - self._start)


def timed_precompute(original: Callable, seconds: list[float]) -> Callable:
    """CachedReferenceDPOTrainer's precompute (score and save, or load), timed into `seconds`."""

    def precompute(self, *args, **kwargs):
        start = time.perf_counter()
        result = original(self, *args, **kwargs)
        seconds.append(time.perf_counter() - start)
        return result

    return precompute


def make_data(work: Path, pairs: int) -> Path:
    """The first `pairs` preference pairs of the bundled miniature ChiMed."""
    from qilin.embedded.chimed import build_embedded

    lines = build_embedded(work / "data")["dpo"].read_text(encoding="utf-8").splitlines()
    if len(lines) < pairs:
        raise SystemExit(f"the bundled data has only {len(lines)} pairs")
    path = work / "dpo.jsonl"
    path.write_text("\n".join(lines[:pairs]) + "\n", encoding="utf-8")
    return path


def make_model(work: Path, data: Path) -> Path:
    """A demo-sized Llama (EmbeddedModelSettings defaults) with a tokenizer trained on the pairs."""
    from qilin.embedded.model import build_embedded_model

    texts = [text for line in data.read_text(encoding="utf-8").splitlines() for text in json.loads(line).values()]
    return build_embedded_model(EmbeddedModelSettings(), texts, work / "model")


def run_once(cfg: DpoSettings, data: Path, model: Path, stage_dir: Path) -> dict[str, Any]:
    """Build the trainer and train: the seconds of each step after warm-up, of the precompute, and the loss."""
    precompute: list[float] = []
    original = CachedReferenceDPOTrainer._precompute_ref_logps
    CachedReferenceDPOTrainer._precompute_ref_logps = timed_precompute(original, precompute)
    try:
        trainer = dpo.build_dpo_trainer(
            StageContext(cfg, [data], [file_sha256(data)], model, ModelSettings(), stage_dir)
        )
    finally:
        CachedReferenceDPOTrainer._precompute_ref_logps = original
    timer = StepTimer()
    trainer.add_callback(timer)
    result = trainer.train()
    return {
        "steps": timer.seconds[WARMUP_STEPS:],
        "precompute": precompute[0] if precompute else None,
        "loaded": getattr(trainer, "reference_cache_loaded", False),
        "train_loss": result.training_loss,
    }


VARIANTS = ("scored every step", "cache built (score + save)", "cache loaded")


def measure(base: dict[str, Any], data: Path, model: Path, run_dir: Path, rounds: int) -> dict[str, dict]:
    """The three variants, interleaved round by round so that other jobs on the machine slow each alike."""
    found = {name: {"steps": [], "precompute": []} for name in VARIANTS}
    for _ in range(rounds):
        shutil.rmtree(run_dir, ignore_errors=True)
        runs = {
            VARIANTS[0]: run_once(DpoSettings(**base, cache_reference=False), data, model, run_dir / "each" / "dpo"),
            VARIANTS[1]: run_once(DpoSettings(**base), data, model, run_dir / "dpo"),
        }
        shutil.rmtree(run_dir / "dpo")  # as the pipeline does when the stage's config changes; the cache stays
        runs[VARIANTS[2]] = run_once(DpoSettings(**base), data, model, run_dir / "dpo")
        assert not runs[VARIANTS[1]]["loaded"] and runs[VARIANTS[2]]["loaded"]
        for name, run in runs.items():
            found[name]["steps"] += run["steps"]
            found[name]["precompute"].append(run["precompute"])
            found[name]["train_loss"] = run["train_loss"]
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, help="HF model directory (default: a demo-sized one built here)")
    parser.add_argument("--pairs", type=int, default=160)
    parser.add_argument("--steps", type=int, default=12, help="optimizer steps per run")
    parser.add_argument("--rounds", type=int, default=3, help="runs of each variant, interleaved")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads(), help="torch CPU threads")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        data = make_data(work, args.pairs)
        model = args.model or make_model(work, data)
        for finetune in ("full", "lora"):
            base = {
                "data": [str(data)],
                "finetune": finetune,
                "lora": LoraSettings(r=8, alpha=16),
                "batch_size": args.batch_size,
                "max_steps": args.steps,
                "learning_rate": 1e-4,
                "warmup_ratio": 0.0,
                "save_steps": 10 * args.steps,  # no checkpoint inside the timed steps
                "logging_steps": 10 * args.steps,
                "max_length": 256,
            }
            results[finetune] = measure(base, data, model, work / f"run-{finetune}", args.rounds)

    print(
        f"\n{args.pairs} pairs, batch size {args.batch_size}, {args.rounds} rounds x {args.steps} steps "
        f"(first {WARMUP_STEPS} of each run left out), {args.threads} CPU threads; one-off: best of {args.rounds}"
    )
    print(f"{'mode':<5} {'reference':<28} {'mean ms/step':>12} {'median':>8} {'one-off s':>10} {'train loss':>11}")
    for finetune, found in results.items():
        for name in VARIANTS:
            steps, once = found[name]["steps"], found[name]["precompute"]
            once_text = f"{min(once):10.3f}" if once[0] is not None else f"{'-':>10}"
            print(
                f"{finetune:<5} {name:<28} {1000 * statistics.mean(steps):12.1f} "
                f"{1000 * statistics.median(steps):8.1f} {once_text} {found[name]['train_loss']:11.6f}"
            )
    print()
    for finetune, found in results.items():
        each, loaded = (statistics.median(found[name]["steps"]) for name in (VARIANTS[0], VARIANTS[2]))
        mean_each, mean_loaded = (statistics.mean(found[name]["steps"]) for name in (VARIANTS[0], VARIANTS[2]))
        build = min(found[VARIANTS[1]]["precompute"])
        pays_back = f"{build / (each - loaded):.0f} steps" if each > loaded else "never"
        print(
            f"{finetune}: step time, scored every step / cache loaded: {mean_each / mean_loaded:.2f}x (means), "
            f"{each / loaded:.2f}x (medians); building the cache for {args.pairs} pairs "
            f"({args.pairs // args.batch_size} batches) pays for itself after {pays_back} (medians)"
        )


if __name__ == "__main__":
    main()
