"""`qilin run --ablate` on the tiny recipe: variants reuse stored stage outputs; the ablation table and json."""

import json
from pathlib import Path

import pytest

from qilin.cli.main import main
from qilin.config import load_recipe
from qilin.pipeline import runner
from qilin.pipeline import store as store_module
from qilin.pipeline.ablation import run_ablation
from qilin.pipeline.store import StageStore
from qilin.report import metric_cell, write_ablation
from tests.conftest import DISEASES
from tests.integration.test_pipeline import write_recipe

FAST = ["stages.cpt.max_steps=2", "stages.sft.max_steps=2", "stages.dpo.max_steps=2"]


def tiny_recipe(tmp_path: Path, data_files: dict, model_dir: Path) -> tuple[Path, list[str]]:
    """(recipe file, overrides): the pipeline test's recipe, 2 steps a stage, from the tiny model, scored on a
    10-question exam."""
    exam = tmp_path / "exam.csv"
    rows = [f'{d}应到哪个科就诊？,"A {dep}\nB 眼科",A,科室' for d, dep, _, _ in DISEASES]
    rows += [f'{d}常用什么药？,"A 青霉素\nB {drug}",B,药物' for d, _, _, drug in DISEASES]
    exam.write_text("Question,Options,Answer,Type\n" + "\n".join(rows) + "\n", encoding="utf-8")
    evaluation = [f"eval.benchmarks=[{{benchmark: mcq, path: {exam}}}]", "eval.batch_size=10"]
    return write_recipe(tmp_path, data_files), [f"model.path={model_dir}", *FAST, *evaluation]


@pytest.fixture
def trained(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """(stage, run directory) of every stage that really trains."""
    calls = []
    real = runner._run_stage

    def counting(name, ctx, manifest):
        calls.append((name, ctx.stage_dir.parent.name))
        return real(name, ctx, manifest)

    monkeypatch.setattr(runner, "_run_stage", counting)
    return calls


def _manifest(run_dir: Path) -> dict:
    return json.loads((run_dir / "manifest.json").read_text())["stages"]


def test_variants_train_only_what_changed_and_the_table_shows_final_metrics(
    tmp_path: Path,
    data_files: dict,
    tiny_model_dir: Path,
    trained: list,
    monkeypatch: pytest.MonkeyPatch,
    qilin_cache: Path,
    capsys,
) -> None:
    monkeypatch.setattr(store_module, "LINK_MIN_BYTES", 1024)  # the tiny weights (148 kB) count as large
    path, overrides = tiny_recipe(tmp_path, data_files, tiny_model_dir)
    run_dir = tmp_path / "run"
    assert main(["run", str(path), *overrides, "--seeds", "2"]) == 2
    assert "--seeds N repeats the ablation's runs: use it with --ablate" in capsys.readouterr().err
    assert main(["run", str(path), *overrides, "--output", str(run_dir), "--ablate"]) == 0
    printed = capsys.readouterr().out
    store = StageStore(qilin_cache / "stages")  # the default store: $QILIN_CACHE/stages
    runs = json.loads((tmp_path / "run-ablate" / "ablation.json").read_text())["runs"]
    assert [(r["variant"], r["final_stage"]) for r in runs] == [
        ("full", "dpo"),
        ("no-cpt", "dpo"),
        ("no-sft", "dpo"),
        ("no-dpo", "sft"),
    ]
    assert trained == [
        ("cpt", "run"),
        ("sft", "run"),
        ("dpo", "run"),  # the full recipe
        ("sft", "no-cpt"),
        ("dpo", "no-cpt"),  # SFT starts from the base model: everything after it changed
        ("dpo", "no-sft"),  # CPT's output comes from the store
    ]  # and without DPO trains nothing
    full, no_sft, no_dpo = _manifest(run_dir), _manifest(tmp_path / "run-ablate" / "no-sft"), None
    no_dpo = _manifest(tmp_path / "run-ablate" / "no-dpo")
    for name in ("cpt", "sft"):
        assert no_dpo[name]["store"] == str(store.entry(full[name]["fingerprint"]))
        assert no_dpo[name]["fingerprint"] == full[name]["fingerprint"]
        assert no_dpo[name]["metrics"] == full[name]["metrics"]
        assert no_dpo[name]["evaluation"] == full[name]["evaluation"]  # evaluation reused too, not run again
    assert no_sft["cpt"]["store"] and "store" not in no_sft["dpo"]
    assert no_sft["dpo"]["inputs"]["model"]["fingerprint"] == full["cpt"]["fingerprint"]
    # the weights are the store's file, hard-linked (same file system here), not a copy
    linked = tmp_path / "run-ablate" / "no-dpo" / "sft" / "model" / "model.safetensors"
    assert (
        linked.stat().st_ino
        == (store.entry(full["sft"]["fingerprint"]) / "stage/model/model.safetensors").stat().st_ino
    )

    table = (tmp_path / "run-ablate" / "ablation.md").read_text()
    assert table.split("\n\n")[1] in printed  # the CLI prints the table it wrote
    assert (tmp_path / "run-ablate" / "no-dpo" / "report.md").is_file()  # and every variant's own report
    rows = {line.split(" | ")[0].lstrip("| "): line for line in table.splitlines() if line.startswith("| ")}
    assert list(rows) == [
        "variant",
        "full recipe",
        "without DCPT",
        "without SFT",
        "without DPO",
        "base model (no training)",
    ]
    assert metric_cell(full["dpo"]["evaluation"]["cmexam_acc"]) in rows["full recipe"]
    assert metric_cell(no_dpo["sft"]["evaluation"]["cmexam_acc"]) in rows["without DPO"]
    assert "[" in rows["without DPO"] and "steps" not in rows["variant"]  # intervals; no training columns
    data = json.loads((tmp_path / "run-ablate" / "ablation.json").read_text())
    by_name = {v["variant"]: v for v in data["variants"]}
    assert by_name["no-dpo"]["runs"][0]["evaluation"]["cmexam_acc"] == full["sft"]["evaluation"]["cmexam_acc"]
    summary = by_name["no-dpo"]["summary"]["cmexam_acc"]
    assert summary["sd"] == 0.0 and summary["n"] == 1
    assert (tmp_path / "run-ablate" / "ablation.png").read_bytes()[:4] == b"\x89PNG"

    trained.clear()
    run_ablation(load_recipe(path, overrides), run_dir, store=store)  # everything finished: nothing trains again
    assert trained == []


def test_seeds_change_every_fingerprint_and_the_table_shows_mean_and_spread(
    tmp_path: Path, data_files: dict, tiny_model_dir: Path, trained: list
) -> None:
    recipe = load_recipe(*tiny_recipe(tmp_path, data_files, tiny_model_dir))
    recipe.stages.cpt = None  # two stages keep this fast: full, without SFT, without DPO
    store = StageStore(tmp_path / "store")
    runs = run_ablation(recipe, tmp_path / "run", seeds=2, store=store)
    assert sorted(Path(r["run_dir"]).name for r in runs) == sorted(
        ["run", "no-sft-seed0", "no-dpo-seed0", "full-seed1", "no-sft-seed1", "no-dpo-seed1"]
    )
    # seed 1 shares nothing with seed 0: it trains SFT and DPO again, and its no-DPO variant reuses its own SFT
    seed0_runs = [("sft", "run"), ("dpo", "run"), ("dpo", "no-sft-seed0")]
    assert trained == [*seed0_runs, ("sft", "full-seed1"), ("dpo", "full-seed1"), ("dpo", "no-sft-seed1")]
    seed0, seed1 = _manifest(tmp_path / "run"), _manifest(tmp_path / "run-ablate" / "full-seed1")
    assert seed1["sft"]["inputs"]["config"]["seed"] == seed0["sft"]["inputs"]["config"]["seed"] + 1
    for name in ("sft", "dpo"):
        assert seed0[name]["fingerprint"] != seed1[name]["fingerprint"]
    assert seed1["base"]["fingerprint"] == seed0["base"]["fingerprint"]  # one base model for all runs

    write_ablation(runs, tmp_path / "run-ablate", "tiny")
    data = json.loads((tmp_path / "run-ablate" / "ablation.json").read_text())
    full = next(v for v in data["variants"] if v["variant"] == "full")
    values = [seed0["dpo"]["evaluation"]["cmexam_acc"]["value"], seed1["dpo"]["evaluation"]["cmexam_acc"]["value"]]
    assert [r["evaluation"]["cmexam_acc"]["value"] for r in full["runs"]] == values
    summary = full["summary"]["cmexam_acc"]
    assert summary["mean"] == round(sum(values) / 2, 2) and summary["n"] == 2
    assert summary["sd"] == round(abs(values[0] - values[1]) / 2**0.5, 2)  # sample sd of two values
    assert (summary["min"], summary["max"]) == (min(values), max(values))
    table = (tmp_path / "run-ablate" / "ablation.md").read_text()
    assert f"{summary['mean']:.2f} ± {summary['sd']:.2f} ({min(values):.2f}–{max(values):.2f})" in table
    assert "over 2 training seeds" in table
