"""VL stage 2 packing: image conversations packed into rows, each image in its own conversation, loss unchanged."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from qilin.chat_templates import IGNORE_INDEX
from qilin.config import ModelSettings, VisionSettings, VLInstructSettings
from qilin.data.vision.vl_data import PackedVLDataset, build_vl_dataset, collate_packed_vl, collate_vl
from qilin.models.vision import prepare_vl_model
from qilin.stages import vl_instruct
from qilin.stages.protocol import StageContext

from .test_vl import _vqa_file


@pytest.fixture(scope="module")
def scans(tmp_path_factory) -> tuple[Path, list[dict]]:
    from qilin.datasets.scans import generate_scan_set

    out = tmp_path_factory.mktemp("scans")
    return out, generate_scan_set(12, seed=7, out_dir=out, size=32)


def _loss_sum(model, batch: dict) -> tuple[float, int]:
    labels = batch.pop("labels")
    logits = model(**batch, use_cache=False).logits[:, :-1]
    labels = labels[:, 1:]
    loss = torch.nn.functional.cross_entropy(logits.flatten(0, 1), labels.flatten(), reduction="sum")
    return float(loss), int((labels != IGNORE_INDEX).sum())


def test_packed_vl_loss_equals_unpacked(tiny_model_dir: Path, vision_dir: Path, scans) -> None:
    vision = VisionSettings(path=str(vision_dir), feature_layer=-1)
    model, tokenizer, processor = prepare_vl_model(tiny_model_dir, vision_dir, vision, ModelSettings())
    model.eval()
    dataset, _ = build_vl_dataset([_vqa_file(scans)], "auto", None, False, model, tokenizer, processor, 384)
    packed = PackedVLDataset(dataset, max_length=384)
    assert len(packed) < len(dataset) / 2, "rows should hold several image conversations"
    assert max(len(r["members"]) for r in packed.rows) >= 2
    collate_rows, collate_one = collate_packed_vl(tokenizer.pad_token_id), collate_vl(tokenizer.pad_token_id)
    with torch.no_grad():
        rows = [_loss_sum(model, collate_rows([packed[i]])) for i in range(len(packed))]
        batched = _loss_sum(model, collate_rows([packed[i] for i in range(len(packed))]))
        alone = [_loss_sum(model, collate_one([dataset[i]])) for i in range(len(dataset))]
    assert sum(n for _, n in rows) == sum(n for _, n in alone) == batched[1]
    assert sum(s for s, _ in rows) == pytest.approx(sum(s for s, _ in alone), rel=1e-5)
    assert batched[0] == pytest.approx(sum(s for s, _ in alone), rel=1e-5)  # images of several rows in one batch
    # each image's features land in its own conversation's image span: the packed row's input embeddings,
    # cut at conversation starts, equal each conversation's embeddings alone
    with torch.no_grad():  # images are told apart by their features, so a misplaced one would show
        features = model.image_features(torch.stack([dataset[0]["pixel_values"], dataset[1]["pixel_values"]]))
    assert (features[0] - features[1]).abs().max() > 1e-2
    row = max(range(len(packed)), key=lambda i: len(packed.rows[i]["members"]))
    batch = collate_rows([packed[row]])
    with torch.no_grad():
        embeds = model.embed(batch["input_ids"], batch["pixel_values"])[0]  # (T, D)
        start = 0
        for member in packed.rows[row]["members"]:
            alone_batch = collate_one([dataset[member]])
            expected = model.embed(alone_batch["input_ids"], alone_batch["pixel_values"])[0]
            torch.testing.assert_close(embeds[start : start + len(expected)], expected)
            start += len(expected)


def test_packed_vl_instruction_tuning_trains(tiny_model_dir: Path, vision_dir: Path, scans, tmp_path: Path) -> None:
    vision = VisionSettings(path=str(vision_dir), feature_layer=-1)
    vqa = _vqa_file(scans)
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
