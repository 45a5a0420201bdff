"""Filling the typed recipe from YAML and `dotted.key=value` overrides; refusing what does not fit.

Unknown keys and wrong types are errors that name the key and what is allowed, because a typo that is
silently ignored (`learning_rat: 1e-4`) costs a user a whole training run.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from pathlib import Path
from typing import Any, Literal

import yaml

from qilin.config.settings import ENGINES, STAGE_ORDER, VL_STAGES, Recipe

# Keys a recipe could once hold where they no longer are: the error says where they went.
MOVED_KEYS = {"embedded.general_pretrain": "moved to the top level: a section general_pretrain of its own"}
# A key whose first part names a recipe section (model.dtype, vision.path) is a recipe key, not a stage's.
RECIPE_SECTIONS = tuple(f"{f.name}." for f in dataclasses.fields(Recipe))


class ConfigError(ValueError):
    """A recipe key is unknown, has the wrong type, or a value is out of range."""


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is Literal:
        return " | ".join(repr(a) for a in typing.get_args(tp))
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_name(a) for a in typing.get_args(tp))
    if origin is list:
        return f"list of {_type_name(typing.get_args(tp)[0])}"
    if origin is dict:
        return f"mapping of {' to '.join(_type_name(a) for a in typing.get_args(tp))}"
    if dataclasses.is_dataclass(tp):
        return "mapping"
    return "null" if tp is type(None) else tp.__name__


def _coerce(value: Any, tp: Any, key: str) -> Any:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(tp)
        if value is None and type(None) in options:
            return None
        real = [o for o in options if o is not type(None)]
        if len(real) == 1:  # Optional[X]: X's own error is the useful one
            return _coerce(value, real[0], key)
        for option in real:
            try:
                return _coerce(value, option, key)
            except ConfigError:
                pass
        raise ConfigError(f"{key}: expected {_type_name(tp)}, got {value!r}")
    if tp is type(None):
        if value is None:
            return None
        raise ConfigError(f"{key}: expected null, got {value!r}")
    if origin is Literal:
        if value in typing.get_args(tp):
            return value
        raise ConfigError(f"{key}: expected one of {_type_name(tp)}, got {value!r}")
    if origin is list:
        if not isinstance(value, list):
            raise ConfigError(f"{key}: expected {_type_name(tp)}, got {value!r}")
        (item_tp,) = typing.get_args(tp)
        return [_coerce(v, item_tp, f"{key}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected {_type_name(tp)}, got {value!r}")
        key_tp, value_tp = typing.get_args(tp)
        return {_coerce(k, key_tp, key): _coerce(v, value_tp, f"{key}.{k}") for k, v in value.items()}
    if dataclasses.is_dataclass(tp):
        if value is None:
            value = {}
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a mapping of {tp.__name__} keys, got {value!r}")
        return from_dict(tp, value, key)
    if tp is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if tp is float and isinstance(value, str):  # YAML 1.1 reads "2e-5" as a string
        try:
            return float(value)
        except ValueError:
            pass
    if isinstance(value, tp) and not (tp is int and isinstance(value, bool)):
        return value
    raise ConfigError(f"{key}: expected {_type_name(tp)}, got {value!r}")


def from_dict(cls: type, data: dict[str, Any], prefix: str = "") -> Any:
    """Build dataclass `cls` from a mapping, refusing unknown keys and wrong types by name."""
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        where = f"in '{prefix}'" if prefix else "at the top level"
        moved = MOVED_KEYS.get(f"{prefix}.{unknown[0]}" if prefix else unknown[0])
        hint = f" ({moved})" if moved else ""
        raise ConfigError(f"unknown key {unknown[0]!r} {where}{hint}; allowed keys: {', '.join(fields)}")
    kwargs = {}
    for name, value in data.items():
        key = f"{prefix}.{name}" if prefix else name
        kwargs[name] = _coerce(value, hints[name], key)
    return cls(**kwargs)


def apply_override(data: dict[str, Any], override: str) -> None:
    """Apply one `dotted.key=value` override (value parsed as YAML) to raw recipe data in place; a number names an
    item of a list (`eval.benchmarks.0.limit=20`)."""
    if "=" not in override:
        raise ConfigError(f"override {override!r}: expected KEY=VALUE, e.g. stages.sft.learning_rate=1e-4")
    dotted, raw = override.split("=", 1)
    parts = dotted.strip().split(".")
    node: Any = data
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        if isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                raise ConfigError(f"override {override!r}: {'.'.join(parts[:i])} has items 0..{len(node) - 1}")
            part = int(part)
        elif not isinstance(node, dict):
            raise ConfigError(f"override {override!r}: {parts[i - 1]!r} is not a mapping")
        if last:
            node[part] = yaml.safe_load(raw) if raw.strip() else None
        else:
            if isinstance(node, dict) and node.get(part) is None:
                node[part] = {}
            node = node[part]


def load_recipe(path: str | Path, overrides: list[str] = ()) -> Recipe:
    """Read a YAML recipe, apply `key=value` overrides, and validate it into a Recipe."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: recipe file not found")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML: {e}") from e
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a recipe is a mapping of keys, got {type(data).__name__}")
    for override in overrides:
        apply_override(data, override)
    try:
        recipe = from_dict(Recipe, data)
    except ConfigError as e:
        raise ConfigError(f"{path}: {e}") from None
    check_recipe(recipe, path)
    return recipe


def one_stage_recipe(stage: str, model: str, data: list[str], overrides: list[str] = ()) -> Recipe:
    """The recipe of one stage on a model and data files (`qilin train`): overrides are the stage's bare keys
    (learning_rate=1e-4) or any dotted recipe key (model.dtype=bfloat16, vision.path=DIR)."""
    raw = {"name": stage, "model": {"path": model}, "stages": {stage: {"data": list(data)}}}
    for override in overrides:
        apply_override(raw, override if override.startswith(RECIPE_SECTIONS) else f"stages.{stage}.{override}")
    if stage in VL_STAGES and "path" not in raw.get("vision", {}):
        # The recipe default, 'embedded', pre-trains the demo's toy ViT: never what a user with a model means.
        raise ConfigError(
            f"qilin train {stage}: name the vision tower with vision.path=DIR (a local CLIP, SigLIP or ViT "
            "directory), or vision.path=embedded for the demo's tiny ViT"
        )
    recipe = from_dict(Recipe, raw)
    check_recipe(recipe)
    return recipe


def check_recipe(recipe: Recipe, path: Path | str = "recipe") -> None:
    """Range checks that types alone cannot express."""
    if not recipe.enabled_stages():
        raise ConfigError(f"{path}: 'stages' enables no stage; add at least one of {', '.join(STAGE_ORDER)}")
    for name, stage in recipe.enabled_stages():
        if not stage.data:
            raise ConfigError(f"{path}: stages.{name}.data: list at least one input file")
        for key in ("batch_size", "grad_accum", "save_steps", "logging_steps"):
            if getattr(stage, key) < 1:
                raise ConfigError(f"{path}: stages.{name}.{key}: must be >= 1, got {getattr(stage, key)}")
        if stage.learning_rate <= 0:
            raise ConfigError(f"{path}: stages.{name}.learning_rate: must be > 0")
    cpt = recipe.stages.cpt
    if cpt is not None and not (0 <= cpt.replay < 1 and (cpt.replay == 0 or cpt.replay_data)):
        raise ConfigError(
            f"{path}: stages.cpt.replay: a share in [0, 1) with replay_data listing the general text to replay, "
            f"got replay={cpt.replay}, replay_data={cpt.replay_data}"
        )
    pretrain = recipe.general_pretrain
    if pretrain is not None and not pretrain.data:
        raise ConfigError(f"{path}: general_pretrain.data: list the general text (e.g. embedded:general)")
    launch = recipe.launch
    if launch.launcher == "torchrun" and launch.engine != "ddp":
        raise ConfigError(
            f"{path}: launch.engine: torchrun runs DDP only; FSDP and DeepSpeed ZeRO go through "
            f"launcher 'accelerate' (got engine {launch.engine!r})"
        )
    if launch.engine not in ENGINES and not Path(launch.engine).expanduser().is_file():
        raise ConfigError(
            f"{path}: launch.engine: expected one of {', '.join(ENGINES)} or an accelerate config file, "
            f"got {launch.engine!r} (no such file)"
        )
    if launch.machines < 1 or not 0 <= launch.machine_rank < launch.machines or launch.processes < 0:
        raise ConfigError(
            f"{path}: launch: need machines >= 1, 0 <= machine_rank < machines and processes >= 0, got "
            f"machines={launch.machines}, machine_rank={launch.machine_rank}, processes={launch.processes}"
        )
    _check_eval(recipe, path)


def _check_eval(recipe: Recipe, path: Path | str) -> None:
    """The eval section's ranges; which benchmarks exist and the keys each takes are checked by the suite."""
    for i, entry in enumerate(recipe.eval.benchmarks):
        if not entry.benchmark:
            raise ConfigError(f"{path}: eval.benchmarks[{i}]: 'benchmark' is required (mcq, qa, safety, vqa, ...)")
        if entry.limit < 0:
            raise ConfigError(f"{path}: eval.benchmarks[{i}].limit: must be >= 0, got {entry.limit}")
    for i, gate in enumerate(recipe.eval.gates):
        where = f"{path}: eval.gates[{i}]"
        if gate.stage not in STAGE_ORDER:
            raise ConfigError(f"{where}.stage: expected one of {', '.join(STAGE_ORDER)}, got {gate.stage!r}")
        if gate.against is not None and gate.against not in ("base", *STAGE_ORDER):
            raise ConfigError(f"{where}.against: expected base or a stage name, got {gate.against!r}")
        if not gate.metric:
            raise ConfigError(f"{where}.metric: name a metric key of the stage table, e.g. cmexam_acc")
        if not 0 < gate.alpha < 1 or gate.margin < 0:
            raise ConfigError(f"{where}: need 0 < alpha < 1 and margin >= 0, got {gate.alpha}, {gate.margin}")


def describe_fields(cls: type, prefix: str = "") -> list[str]:
    """One line per key, `dotted.key (type, default): help`, for --help text and docs."""
    lines = []
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        key = f"{prefix}{f.name}"
        tp = hints[f.name]
        nested = [a for a in (typing.get_args(tp) or (tp,)) if dataclasses.is_dataclass(a)]
        if nested:
            lines.extend(describe_fields(nested[0], key + "."))
            continue
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        lines.append(f"  {key} ({_type_name(tp)}, default {default!r}): {f.metadata.get('help', '')}")
    return lines


def to_dict(obj: Any) -> Any:
    """A dataclass tree as plain data (for manifests and fingerprints)."""
    return dataclasses.asdict(obj) if dataclasses.is_dataclass(obj) else obj
