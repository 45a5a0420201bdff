"""`qilin train` for every stage: recipe keys reach the recipe, stage keys the stage, VL stages name their tower."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from qilin.cli import main
from qilin.config import ConfigError, Recipe, from_dict, one_stage_recipe

from ..conftest import write_jsonl


def test_train_sends_vision_and_eval_keys_to_the_recipe_and_the_rest_to_the_stage() -> None:
    recipe = one_stage_recipe(
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


def _help(argv: list[str], capsys) -> str:
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 0
    return capsys.readouterr().out


def test_run_help_fits_a_screen_and_points_at_the_keys(capsys) -> None:
    out = _help(["run", "--help"], capsys)
    assert len(out.splitlines()) < 60
    assert "--help-keys SECTION" in out and "stages.sft.learning_rate" in out  # the override example
    assert "stages.cpt.block_size" not in out  # no key listed per stage


def test_run_help_keys_lists_one_stage_as_run_overrides_type_it(capsys) -> None:
    out = _help(["run", "--help-keys", "dpo"], capsys)
    assert "  stages.dpo.beta (float, default 0.1):" in out
    assert "stages.sft." not in out and "stages.cpt." not in out
    assert "  model.path (str, default 'embedded'):" in _help(["run", "--help-keys", "model"], capsys)


def test_train_sft_help_lists_its_own_keys_bare(capsys) -> None:
    out = _help(["train", "sft", "--help"], capsys)
    assert "\n  learning_rate (float, default 2e-05):" in out
    assert "\n  lora.r (int, default 8):" in out  # a nested key as it is typed: lora.r=16
    assert "stages." not in out  # no dotted stage keys
    assert "beta (" not in out and "block_size (" not in out  # DPO's and CPT's keys are not SFT's
    assert "vision.path" not in out  # a text stage has no tower
    assert "\n  vision.path (str, default 'embedded'):" in _help(["train", "vl_align", "--help"], capsys)


def test_every_option_of_every_command_shows_its_default(capsys) -> None:
    """`--help` of each command: every optional argument that is not required names its default."""
    from qilin.cli.main import build_parser

    def parsers(parser, path):
        yield path, parser
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, child in action.choices.items():
                    yield from parsers(child, [*path, name])

    missing = []
    for path, parser in parsers(build_parser(), []):
        text = parser.format_help()
        for action in parser._actions:
            if not action.option_strings or action.required or action.default is argparse.SUPPRESS:
                continue
            if isinstance(action, argparse._SubParsersAction):
                continue
            options = text[text.index("\noptions:") :]  # past the usage line, which names every option too
            index = options.index(f"  {action.option_strings[0]}")
            end = options.find("\n  -", index + 1)
            after = options[index : end if end > 0 else len(options)]
            if "default" not in after:
                missing.append(f"qilin {' '.join(path)} {action.option_strings[-1]}")
    assert not missing, missing
    assert "--port PORT           TCP port (default: 8000)" in _help(["serve", "--help"], capsys)


def test_train_vl_align_uses_the_named_tower(tiny_model_dir: Path, vision_dir: Path, tmp_path: Path) -> None:
    from qilin.embedded.scans import generate_scan_set

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
