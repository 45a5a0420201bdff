"""VL stage 2 (instruction tuning): LoRA merges into a plain VL model, and packed rows train."""

from __future__ import annotations

from pathlib import Path

import pytest

from qilin.config import ModelSettings, VisionSettings, VLInstructSettings
from qilin.models.vl import QilinVLForConditionalGeneration
from qilin.stages import vl_instruct
from qilin.stages.protocol import StageContext
from tests.vl_files import STEPS, Scans, scan_set, vqa_file


@pytest.fixture(scope="module")
def scans(tmp_path_factory: pytest.TempPathFactory) -> Scans:
    return scan_set(tmp_path_factory.mktemp("scans"), 16, seed=5)


@pytest.fixture(scope="module")
def packing_scans(tmp_path_factory: pytest.TempPathFactory) -> Scans:
    """12 scans: their conversations pack into fewer than 6 rows of 384 tokens."""
    return scan_set(tmp_path_factory.mktemp("scans"), 12, seed=7)


def test_lora_instruction_tuning_merges_into_a_plain_vl_model(
    tiny_model_dir: Path, vision_dir: Path, scans, tmp_path: Path
) -> None:
    vision = VisionSettings(path=str(vision_dir), projector="mlp", feature_layer=-1)
    vqa = vqa_file(scans)
    vl_instruct.run(
        StageContext(
            VLInstructSettings(data=[str(vqa)], finetune="lora", **STEPS),
            [vqa],
            ["x"],
            tiny_model_dir,
            ModelSettings(),
            tmp_path / "lora",
            vision_dir,
            vision,
        )
    )
    assert (tmp_path / "lora" / "adapter" / "adapter_config.json").exists()
    model = QilinVLForConditionalGeneration.from_pretrained(tmp_path / "lora" / "model")
    assert not any("lora_" in k for k in model.state_dict())


def test_packed_vl_instruction_tuning_trains(
    tiny_model_dir: Path, vision_dir: Path, packing_scans, tmp_path: Path
) -> None:
    vision = VisionSettings(path=str(vision_dir), feature_layer=-1)
    vqa = vqa_file(packing_scans)
    cfg = VLInstructSettings(
        data=[str(vqa)], finetune="full", packing=True, batch_size=2, epochs=3, learning_rate=5e-3,
        warmup_ratio=0.0, max_length=384, logging_steps=1, save_steps=100,
    )  # fmt: skip
    metrics = vl_instruct.run(
        StageContext(cfg, [vqa], ["x"], tiny_model_dir, ModelSettings(), tmp_path, vision_dir, vision)
    )
    assert metrics["examples"] == 12 and metrics["rows"] < 6
    assert metrics["steps"] == 3 * -(-metrics["rows"] // 2)
    assert metrics["last_loss"] < metrics["first_loss"]
