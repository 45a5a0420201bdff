"""VL examples: the image token expands to one position per feature in training examples and prompts alike, and
packed rows give the loss the conversations give alone, each image in its own conversation."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from qilin.chat_templates import IGNORE_INDEX, IMAGE_TOKEN
from qilin.config import ModelSettings, VisionSettings
from qilin.data.vision.dataset import (
    PackedVLDataset,
    build_vl_dataset,
    collate_packed_vl,
    collate_vl,
    expand_image_tokens,
    vl_prompt_ids,
)
from qilin.models.loading import load_tokenizer
from qilin.models.vision import prepare_vl_model
from tests.vl_files import Scans, scan_set, vqa_file


def test_each_image_token_becomes_n_untrained_positions() -> None:
    ids, labels = expand_image_tokens([5, 9, 6, 9], [5, 1, 6, 2], image_token=9, n=3)
    assert ids == [5, 9, 9, 9, 6, 9, 9, 9]
    assert labels == [5, IGNORE_INDEX, IGNORE_INDEX, IGNORE_INDEX, 6, *[IGNORE_INDEX] * 3]


def test_prompt_ids_put_the_image_first_and_expand_it(tiny_vl_dir: Path) -> None:
    tokenizer = load_tokenizer(tiny_vl_dir, ModelSettings(path=str(tiny_vl_dir)))
    image = tokenizer.convert_tokens_to_ids(IMAGE_TOKEN)
    messages = [{"role": "system", "content": "你是医生。"}, {"role": "user", "content": "这是什么检查？"}]
    ids = vl_prompt_ids(tokenizer, messages, image, 16)
    # what serve/chat.py built by hand before: <image> + newline before the first user turn, template, expansion
    placed = [messages[0], {"role": "user", "content": f"{IMAGE_TOKEN}\n这是什么检查？"}]
    text = tokenizer.apply_chat_template(placed, tokenize=False, add_generation_prompt=True)
    expected = []
    for token in tokenizer(text, add_special_tokens=False)["input_ids"]:
        expected += [token] * 16 if token == image else [token]
    assert ids == expected and ids.count(image) == 16
    assert messages[1]["content"] == "这是什么检查？"  # the caller's conversation is not changed
    already = [{"role": "user", "content": f"左侧{IMAGE_TOKEN}右侧"}]
    assert vl_prompt_ids(tokenizer, already, image, 16).count(image) == 16  # a placed image is not added twice


@pytest.fixture(scope="module")
def scans(tmp_path_factory: pytest.TempPathFactory) -> Scans:
    return scan_set(tmp_path_factory.mktemp("scans"), 12, seed=7)


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
    dataset, _ = build_vl_dataset([vqa_file(scans)], "auto", None, False, model, tokenizer, processor, 384)
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


def _by_prefixes(tokenizer, conversations: list, max_length: int) -> list:
    from qilin.data.text.conversations import tokenize_conversation_by_prefixes

    return [tokenize_conversation_by_prefixes(tokenizer, m, max_length) for m in conversations]


def test_vl_examples_are_those_of_rendering_every_prefix(
    tiny_model_dir: Path, vision_dir: Path, scans, monkeypatch
) -> None:
    """VL conversations take the one-render path of SFT, with the same ids and labels as rendering each prefix."""
    from qilin.data.text.conversations import conversation_tokenizer
    from qilin.data.vision import dataset as vl_dataset

    vision = VisionSettings(path=str(vision_dir), feature_layer=-1)
    model, tokenizer, processor = prepare_vl_model(tiny_model_dir, vision_dir, vision, ModelSettings())
    files = [vqa_file(scans)]
    one_pass, _ = build_vl_dataset(files, "auto", None, False, model, tokenizer, processor, 384)
    assert not conversation_tokenizer(tokenizer).fallbacks
    monkeypatch.setattr(vl_dataset, "tokenize_conversations", _by_prefixes)
    by_prefixes, _ = build_vl_dataset(files, "auto", None, False, model, tokenizer, processor, 384)
    assert one_pass.items == by_prefixes.items and one_pass.dropped == by_prefixes.dropped and len(one_pass) > 5
