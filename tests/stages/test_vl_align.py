"""VL stage 1 (feature alignment) trains only the projector; stage 2 after it never moves the vision tower."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from transformers import CLIPVisionModel

from qilin.config import ModelSettings, VisionSettings, VLAlignSettings, VLInstructSettings
from qilin.models.vl import QilinVLForConditionalGeneration
from qilin.stages import vl_align, vl_instruct
from qilin.stages.protocol import StageContext
from tests.vl_files import STEPS, Scans, caption_file, scan_set, vqa_file


@pytest.fixture(scope="module")
def scans(tmp_path_factory: pytest.TempPathFactory) -> Scans:
    return scan_set(tmp_path_factory.mktemp("scans"), 16, seed=5)


def _state(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def test_stage_1_trains_only_the_projector_and_stage_2_never_the_vision_tower(
    tiny_model_dir: Path, vision_dir: Path, scans, tmp_path: Path
) -> None:
    vision = VisionSettings(path=str(vision_dir), projector="linear", feature_layer=-1)
    captions = caption_file(scans)
    metrics = vl_align.run(
        StageContext(
            VLAlignSettings(data=[str(captions)], **STEPS),
            [captions],
            ["x"],
            tiny_model_dir,
            ModelSettings(),
            tmp_path / "align",
            vision_dir,
            vision,
        )
    )
    assert metrics["steps"] == 3 and metrics["examples"] == 16
    aligned = QilinVLForConditionalGeneration.from_pretrained(tmp_path / "align" / "model")
    start_vision = CLIPVisionModel.from_pretrained(vision_dir)
    from transformers import AutoModelForCausalLM

    start_llm = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    for k, v in start_vision.state_dict().items():
        assert torch.equal(aligned.vision_tower.state_dict()[k], v), k
    llm = aligned.language_model.state_dict()
    for k, v in start_llm.state_dict().items():
        if "embed_tokens" in k or "lm_head" in k:  # one row was added for <image>; the old rows are unchanged
            assert torch.equal(llm[k][: v.shape[0]], v), k
        else:
            assert torch.equal(llm[k], v), k

    vqa = vqa_file(scans)
    before = _state(aligned)
    vl_instruct.run(
        StageContext(
            VLInstructSettings(data=[str(vqa)], finetune="full", **STEPS),
            [vqa],
            ["x"],
            tmp_path / "align" / "model",
            ModelSettings(),
            tmp_path / "instruct",
            vision_dir,
            vision,
        )
    )
    tuned = _state(QilinVLForConditionalGeneration.from_pretrained(tmp_path / "instruct" / "model"))
    assert all(torch.equal(tuned[k], before[k]) for k in before if k.startswith("vision_tower.")), "vision tower moved"
    assert any(not torch.equal(tuned[k], before[k]) for k in before if k.startswith("language_model.")), (
        "LLM did not train"
    )
    assert any(not torch.equal(tuned[k], before[k]) for k in before if k.startswith("projector.")), (
        "projector did not train"
    )
