"""`qilin train` for every stage: recipe keys reach the recipe, stage keys the stage, VL stages name their tower."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from qilin.cli import main
from qilin.cli.run import train_recipe
from qilin.config import ConfigError, Recipe, from_dict

from ..conftest import write_jsonl


def test_train_sends_vision_and_eval_keys_to_the_recipe_and_the_rest_to_the_stage() -> None:
    recipe = train_recipe(
        "vl_align", "m", ["c.jsonl"], ["vision.path=/towers/clip", "eval.batch_size=4", "max_steps=2", "images=/img"]
    )
    assert recipe.vision.path == "/towers/clip" and recipe.eval.batch_size == 4
    assert recipe.stages.vl_align.max_steps == 2 and recipe.stages.vl_align.images == "/img"


def test_train_vl_without_a_vision_tower_is_refused_naming_the_key(tmp_path: Path, capsys) -> None:
    data = write_jsonl(tmp_path / "c.jsonl", [{"image": "a.png", "caption": "胸片"}])
    code = main(["train", "vl_align", "--model", str(tmp_path), "--data", str(data), "--output", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == 2 and "vision.path=DIR" in err
    assert not (tmp_path / "o" / "vision").exists()  # the demo ViT was not pre-trained behind the user's back


def test_vl_align_refuses_finetune_and_lora_keys() -> None:
    for key, value in (("finetune", "full"), ("lora", {"r": 4})):
        with pytest.raises(ConfigError, match=rf"unknown key '{key}' in 'stages.vl_align'"):
            from_dict(Recipe, {"stages": {"vl_align": {"data": ["c.jsonl"], key: value}}})


def test_train_help_lists_the_keys_of_every_stage(capsys) -> None:
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    out = capsys.readouterr().out
    for key in ("stages.cpt.block_size", "stages.dpo.beta", "stages.vl_align.max_length", "stages.vl_instruct.packing"):
        assert key in out
    assert "vision.path" in out and "stages.vl_align.finetune" not in out


def test_train_vl_align_uses_the_named_tower(tiny_model_dir: Path, vision_dir: Path, tmp_path: Path) -> None:
    from qilin.datasets.scans import generate_scan_set

    records = generate_scan_set(8, seed=3, out_dir=tmp_path / "scans", size=32)
    data = write_jsonl(
        tmp_path / "scans" / "captions.jsonl", [{"image": r["image"], "caption": r["caption"]} for r in records]
    )
    out = tmp_path / "run"
    settings = ["vision.path=" + str(vision_dir), "max_steps=2", "batch_size=4", "max_length=128", "save_steps=100"]
    code = main(
        ["train", "vl_align", *settings, "--model", str(tiny_model_dir), "--data", str(data), "--output", str(out)]
    )
    assert code == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["stages"]["vl_align"]["status"] == "complete"
    assert manifest["stages"]["vl_align"]["metrics"]["steps"] == 2
    assert "vision" not in manifest["stages"] and not (out / "vision").exists()  # no demo ViT was built
    saved = json.loads((out / "vl_align" / "model" / "config.json").read_text())
    assert saved["vision_config"]["hidden_size"] == 32  # the fixture's tower, not the demo ViT (128)
