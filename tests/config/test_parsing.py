from pathlib import Path

import pytest

from qilin.config import ConfigError, Recipe, describe_fields, from_dict, load_recipe
from qilin.eval.suite import check_benchmarks

RECIPES = sorted(Path(__file__).parents[2].joinpath("recipes").glob("*.yaml"))


@pytest.mark.parametrize("path", RECIPES, ids=[p.name for p in RECIPES])
def test_every_shipped_recipe_validates(path: Path) -> None:
    recipe = load_recipe(path)
    assert recipe.enabled_stages(), f"{path.name} enables no stage"
    assert len(check_benchmarks(recipe.eval)) == len(recipe.eval.benchmarks)  # each entry's benchmark and keys
    first_line = path.read_text().splitlines()[0]
    assert first_line.startswith("# qilin run"), "each recipe starts with the command that runs it"


def test_shipped_recipes_exist() -> None:
    assert {"demo.yaml", "qilin-med-7b.yaml"} <= {p.name for p in RECIPES}


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "r.yaml"
    path.write_text(text)
    return path


def test_unknown_key_is_refused_with_allowed_keys(tmp_path: Path) -> None:
    path = _write(tmp_path, "stages:\n  sft:\n    data: [a.jsonl]\n    learning_rat: 1e-4\n")
    with pytest.raises(ConfigError) as e:
        load_recipe(path)
    message = str(e.value)
    assert "learning_rat" in message and "stages.sft" in message and "learning_rate" in message


def test_wrong_type_names_key_and_expected_type(tmp_path: Path) -> None:
    path = _write(tmp_path, "stages:\n  cpt:\n    data: [a.txt]\n    block_size: big\n")
    with pytest.raises(ConfigError, match=r"stages\.cpt\.block_size: expected int, got 'big'"):
        load_recipe(path)


def test_literal_choices_are_enforced(tmp_path: Path) -> None:
    path = _write(tmp_path, "stages:\n  sft:\n    data: [a.jsonl]\n    finetune: qlora\n")
    with pytest.raises(ConfigError, match="'lora' \\| 'full'"):
        load_recipe(path)


def test_overrides_reach_any_key_and_are_validated(tmp_path: Path) -> None:
    path = _write(tmp_path, "name: x\nstages:\n  sft:\n    data: [a.jsonl]\n")
    recipe = load_recipe(path, ["stages.sft.learning_rate=1e-4", "stages.sft.lora.r=16", "model.dtype=bfloat16"])
    assert recipe.stages.sft.learning_rate == 1e-4
    assert recipe.stages.sft.lora.r == 16
    assert recipe.model.dtype == "bfloat16"
    with pytest.raises(ConfigError, match="unknown key 'nope'"):
        load_recipe(path, ["stages.sft.nope=1"])


def test_yaml_float_strings_are_read_as_floats() -> None:
    recipe = from_dict(Recipe, {"stages": {"dpo": {"data": ["d.jsonl"], "learning_rate": "5e-6"}}})
    assert recipe.stages.dpo.learning_rate == 5e-6


def test_a_recipe_without_stages_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="enables no stage"):
        load_recipe(_write(tmp_path, "name: empty\n"))


def test_every_key_has_help() -> None:
    lines = describe_fields(Recipe)
    assert any(line.strip().startswith("stages.dpo.beta") for line in lines)
    assert all(line.rstrip().split("): ", 1)[1] for line in lines), "a key without help text"


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("stages.cpt.replay=1.0", "stages.cpt.replay"),
        ("stages.cpt.replay_data=[]", "replay_data listing the general text"),
        ("general_pretrain.data=[]", "general_pretrain.data"),
    ],
)
def test_replay_and_general_pretraining_are_checked(override: str, message: str) -> None:
    recipe = Path(__file__).parents[2] / "recipes" / "demo.yaml"
    assert load_recipe(recipe).stages.cpt.replay == 0.1
    with pytest.raises(ConfigError, match=message):
        load_recipe(recipe, [override])


def test_general_pretraining_inside_the_embedded_section_is_refused_saying_where_it_went() -> None:
    with pytest.raises(ConfigError, match=r"unknown key 'general_pretrain' in 'embedded' \(moved to the top level"):
        from_dict(Recipe, {"embedded": {"general_pretrain": {"data": ["embedded:general"]}}})


def test_an_override_may_name_an_item_of_a_list(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "stages:\n  sft:\n    data: [a.jsonl]\neval:\n  benchmarks:\n    - {benchmark: mcq, path: e.csv, limit: 400}\n",
    )
    recipe = load_recipe(path, ["eval.benchmarks.0.limit=20", "eval.benchmarks.0.detail=true"])
    assert (recipe.eval.benchmarks[0].limit, recipe.eval.benchmarks[0].detail) == (20, True)
    with pytest.raises(ConfigError, match=r"eval.benchmarks has items 0..0"):
        load_recipe(path, ["eval.benchmarks.1.limit=20"])


def test_gates_are_checked_when_the_recipe_is_read(tmp_path: Path) -> None:
    base = "stages:\n  sft:\n    data: [a.jsonl]\neval:\n  gates:\n"
    with pytest.raises(ConfigError, match=r"eval.gates\[0\].stage: expected one of cpt, sft, dpo"):
        load_recipe(_write(tmp_path, base + "    - {stage: sf, metric: cmexam_acc}\n"))
    with pytest.raises(ConfigError, match=r"eval.gates\[0\].test: expected one of 'gain' \| 'non_inferior'"):
        load_recipe(_write(tmp_path, base + "    - {stage: sft, metric: cmexam_acc, test: better}\n"))
    with pytest.raises(ConfigError, match=r"eval.gates\[0\]: need 0 < alpha < 1 and margin >= 0"):
        load_recipe(_write(tmp_path, base + "    - {stage: sft, metric: a, test: non_inferior, margin: -3}\n"))
