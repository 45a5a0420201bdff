"""Qilin-Med-VL: frozen parts stay bit-identical, formats read, LLaVA export matches, DICOM flows through chat."""

import json
from pathlib import Path

import pytest
import torch
from transformers import CLIPVisionModel, LlavaForConditionalGeneration

from qilin.config import ModelSettings, VisionSettings, VLAlignSettings, VLInstructSettings
from qilin.data.records import DataError
from qilin.data.vision.vl_data import read_pmcvqa, read_vl_file
from qilin.eval.vqa import closest_choice, open_ended_scores
from qilin.models.vl import QilinVLForConditionalGeneration, export_llava
from qilin.stages import vl_align, vl_instruct
from qilin.stages.protocol import StageContext

from .conftest import write_jsonl


@pytest.fixture(scope="module")
def scans(tmp_path_factory) -> tuple[Path, list[dict]]:
    from qilin.datasets.scans import generate_scan_set

    out = tmp_path_factory.mktemp("scans")
    return out, generate_scan_set(16, seed=5, out_dir=out, size=32)


def _caption_file(scans) -> Path:
    out, records = scans
    return write_jsonl(out / "captions.jsonl", [{"image": r["image"], "caption": r["caption"]} for r in records])


def _vqa_file(scans) -> Path:
    out, records = scans
    rows = []
    for r in records:
        item = r["vqa"][0]
        options = "\n".join(f"{k}:{v}" for k, v in item["choices"].items())
        rows.append(
            {
                "image": r["image"],
                "conversations": [
                    {"from": "human", "value": f"<image>\n{item['question']}\n{options}"},
                    {"from": "gpt", "value": item["choices"][item["answer"]]},
                ],
            }
        )
    path = out / "vqa.json"
    path.write_text(json.dumps(rows, ensure_ascii=False))
    return path


STEPS = {
    "batch_size": 4,
    "max_steps": 3,
    "save_steps": 100,
    "learning_rate": 1e-2,
    "warmup_ratio": 0.0,
    "max_length": 128,
}


def _state(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def test_stage_1_trains_only_the_projector_and_stage_2_never_the_vision_tower(
    tiny_model_dir: Path, vision_dir: Path, scans, tmp_path: Path
) -> None:
    vision = VisionSettings(path=str(vision_dir), projector="linear", feature_layer=-1)
    captions = _caption_file(scans)
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

    vqa = _vqa_file(scans)
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


def test_lora_instruction_tuning_merges_into_a_plain_vl_model(
    tiny_model_dir: Path, vision_dir: Path, scans, tmp_path: Path
) -> None:
    vision = VisionSettings(path=str(vision_dir), projector="mlp", feature_layer=-1)
    vqa = _vqa_file(scans)
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


def test_llava_export_gives_the_same_logits(tiny_model_dir: Path, vision_dir: Path, tmp_path: Path) -> None:
    from qilin.models.vision import prepare_vl_model

    model, tokenizer, processor = prepare_vl_model(
        tiny_model_dir, vision_dir, VisionSettings(projector="mlp", feature_layer=-2), ModelSettings()
    )
    model.eval()
    export_llava(model, processor, tokenizer, tmp_path / "llava")
    llava = LlavaForConditionalGeneration.from_pretrained(tmp_path / "llava").eval()
    n = model.num_image_tokens
    ids = torch.tensor([[5, 6, *[model.config.image_token_index] * n, 7, 8]])
    pixels = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(
            model(input_ids=ids, pixel_values=pixels).logits, llava(input_ids=ids, pixel_values=pixels).logits
        )
    with pytest.raises(ValueError, match="only the 'mlp' projector"):
        model.config.projector = "linear"
        export_llava(model, processor, tokenizer, tmp_path / "x")


def test_vl_formats_read_and_bad_images_are_named(scans, tmp_path: Path) -> None:
    out, records = scans
    assert len(read_vl_file(_caption_file(scans))) == 16
    conv = read_vl_file(_vqa_file(scans))[0]
    assert conv.messages[0]["content"].startswith("<image>") and conv.image == out / records[0]["image"]
    csv_path = tmp_path / "pmc.csv"
    csv_path.write_text(
        "Figure_path,Question,Anwser,Choice A,Choice B,Choice C,Choice D,Answer_label\n"
        f"{out / records[0]['image']},What is shown?,CT,A:CT ,B:MRI,C:X-ray,D:US,A\n",
        encoding="utf-8",
    )
    (q,) = read_pmcvqa(csv_path, tmp_path)
    assert q.choices == {"A": "CT", "B": "MRI", "C": "X-ray", "D": "US"} and q.answer == "A"
    missing = write_jsonl(tmp_path / "bad.jsonl", [{"image": "nope.png", "caption": "一张图。"}])
    from qilin.data.vision.vl_data import check_images

    with pytest.raises(DataError, match=r"bad\.jsonl:line 1: field 'image': .*nope\.png"):
        check_images(read_vl_file(missing), missing, skip_bad=False)
    good, bad = check_images(read_vl_file(missing), missing, skip_bad=True)
    assert (good, bad) == ([], 1)


def test_generations_map_to_the_closest_choice_and_open_answers_score_recall() -> None:
    choices = {"A": "左侧", "B": "右侧", "C": "双侧", "D": "正中"}
    assert closest_choice("病灶位于右侧。", choices) == "B"
    assert closest_choice("C", choices) == "C"
    recall, f1 = open_ended_scores("右肺上叶结节", "右肺结节")
    assert recall == 1.0 and f1 == pytest.approx(2 * (4 / 6) / (1 + 4 / 6))  # 4 of 4 reference, 4 of 6 reply chars


def test_dicom_flows_through_chat(tiny_model_dir: Path, vision_dir: Path, tmp_path: Path, capsys) -> None:
    from pydicom.data import get_testdata_file

    from qilin.cli import main
    from qilin.models.vision import prepare_vl_model, save_vl_model

    model, tokenizer, processor = prepare_vl_model(
        tiny_model_dir, vision_dir, VisionSettings(feature_layer=-1), ModelSettings()
    )
    save_vl_model(model, tokenizer, processor, tmp_path / "vl")
    dicom = get_testdata_file("CT_small.dcm")
    assert (
        main(["chat", str(tmp_path / "vl"), "--image", dicom, "--prompt", "这是什么检查？", "--max-new-tokens", "8"])
        == 0
    )
    capsys.readouterr()
    assert main(["chat", str(tmp_path / "vl"), "--prompt", "x"]) == 2  # a VL model needs an image


def test_eval_vqa_and_export_llava_from_the_command_line(tiny_vl_dir: Path, scans, tmp_path: Path, capsys) -> None:
    from qilin.cli import main

    out, records = scans
    rows = ["Figure_path,Question,Choice A,Choice B,Choice C,Choice D,Answer_label,Type"]
    for r in records[:6]:
        item = r["vqa"][0]
        choices = [f"{k}:{v}" for k, v in item["choices"].items()]
        rows.append(",".join([r["image"], item["question"], *choices, item["answer"], "modality"]))
    csv_path = tmp_path / "test.csv"
    csv_path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    result = tmp_path / "vqa.json"
    assert (
        main(["eval", "vqa", str(tiny_vl_dir), "--data", str(csv_path), "--images", str(out), "--json", str(result)])
        == 0
    )
    tables = json.loads(result.read_text())
    assert tables["loglik"]["all"]["n"] == 6 and tables["loglik"]["Type=modality"]["n"] == 6
    assert 0 <= tables["generate"]["all"]["accuracy"] <= 100
    # the tiny VL model has the paper's linear projector, which has no LLaVA equivalent: a clear refusal
    assert main(["export", "llava", str(tiny_vl_dir), str(tmp_path / "llava")]) == 2
    assert "only the 'mlp' projector" in capsys.readouterr().err
    assert not (tmp_path / "llava").exists() and not (tmp_path / "llava.tmp").exists()
