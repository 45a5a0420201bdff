"""Typed recipe configuration: YAML and command-line overrides both fill these dataclasses.

    recipe = load_recipe("recipes/demo.yaml", ["stages.sft.learning_rate=1e-4"])
    recipe.stages.sft.learning_rate   # 0.0001, typed and checked

`settings.py` declares every key (type, default, meaning); `parsing.py` reads YAML and overrides into them
and refuses unknown keys and wrong types by name.
"""

from qilin.config.eval_settings import BenchmarkSettings, GateSettings
from qilin.config.parsing import (
    ConfigError,
    apply_override,
    check_recipe,
    describe_fields,
    from_dict,
    load_recipe,
    one_stage_recipe,
    to_dict,
)
from qilin.config.settings import (
    ENGINES,
    STAGE_ORDER,
    VL_STAGES,
    CptSettings,
    DpoSettings,
    EmbeddedModelSettings,
    EmbeddedVisionSettings,
    EvalSettings,
    FinetuneSettings,
    GrpoSettings,
    LaunchSettings,
    LoraSettings,
    ModelSettings,
    Recipe,
    SftSettings,
    StagesSettings,
    TrainSettings,
    VisionSettings,
    VLAlignSettings,
    VLInstructSettings,
)

__all__ = [
    "ENGINES",
    "STAGE_ORDER",
    "VL_STAGES",
    "BenchmarkSettings",
    "ConfigError",
    "CptSettings",
    "DpoSettings",
    "EmbeddedModelSettings",
    "EmbeddedVisionSettings",
    "EvalSettings",
    "FinetuneSettings",
    "GateSettings",
    "GrpoSettings",
    "LaunchSettings",
    "LoraSettings",
    "ModelSettings",
    "Recipe",
    "SftSettings",
    "StagesSettings",
    "TrainSettings",
    "VLAlignSettings",
    "VLInstructSettings",
    "VisionSettings",
    "apply_override",
    "check_recipe",
    "describe_fields",
    "from_dict",
    "load_recipe",
    "one_stage_recipe",
    "to_dict",
]
