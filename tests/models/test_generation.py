"""One VL generation path: chat and VQA give the replies their own hand-written code gave before it was shared."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from qilin.chat_templates import end_of_turn_ids, render_prompt
from qilin.config import ModelSettings
from qilin.data.vision.dataset import image_pixels, vl_prompt_ids
from qilin.data.vision.images import load_image
from qilin.models.generation import cut_at_end_of_turn, generate_vl_texts
from qilin.models.vision import load_vl_model
from qilin.serve.chat import generate_vl_reply

QUESTIONS = ["这是什么检查？", "病灶在哪侧？", "这张胸部X线片显示什么异常？"]


@pytest.fixture(scope="module")
def talkative_vl(tiny_vl_dir: Path) -> tuple[Any, Any, Any]:
    """The tiny VL model with noise on its LLM: untrained it only says newlines, which every path would agree on."""
    model, tokenizer, processor = load_vl_model(tiny_vl_dir, ModelSettings(path=str(tiny_vl_dir)))
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in model.language_model.parameters():
            p.add_(torch.randn(p.shape, generator=generator) * 0.5)
    return model, tokenizer, processor


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    from qilin.embedded.scans import generate_scan_set

    out = tmp_path_factory.mktemp("scans")
    return [out / r["image"] for r in generate_scan_set(3, seed=3, out_dir=out, size=32)]


def _old_chat_reply(model: Any, tokenizer: Any, processor: Any, image: Path, question: str) -> str:
    """serve/chat.generate_vl_reply as it was before the paths were shared (single prompt, no padding)."""
    pixels = processor(images=load_image(image), return_tensors="pt")["pixel_values"]
    prompt = render_prompt(tokenizer, [{"role": "user", "content": f"<image>\n{question}"}])
    ids = []
    for t in tokenizer(prompt, add_special_tokens=False)["input_ids"]:
        ids += [t] * model.num_image_tokens if t == model.config.image_token_index else [t]
    out = model.generate(
        input_ids=torch.tensor([ids]),
        pixel_values=pixels,
        attention_mask=torch.ones(1, len(ids), dtype=torch.long),
        max_new_tokens=12,
        do_sample=False,
        pad_token_id=tokenizer.pad_token_id,
    )[0].tolist()
    stops = end_of_turn_ids(tokenizer, model.language_model.generation_config.eos_token_id)
    end = next((i for i, t in enumerate(out) if t in stops), len(out))
    return tokenizer.decode(out[:end], skip_special_tokens=True).strip()


def test_chat_reply_is_the_old_chat_reply(talkative_vl, images: list[Path]) -> None:
    model, tokenizer, processor = talkative_vl
    for image, question in zip(images, QUESTIONS, strict=True):
        messages = [{"role": "user", "content": question}]
        reply = generate_vl_reply(model, tokenizer, processor, image, messages, 12)
        assert reply == _old_chat_reply(model, tokenizer, processor, image, question)
    assert any(
        generate_vl_reply(model, tokenizer, processor, i, [{"role": "user", "content": "x"}], 12) for i in images
    )


def test_batched_replies_are_the_old_vqa_generations(talkative_vl, images: list[Path]) -> None:
    model, tokenizer, processor = talkative_vl
    # prompts of different lengths, so the batch is left-padded
    prompts = [
        vl_prompt_ids(
            tokenizer, [{"role": "user", "content": q}], model.config.image_token_index, model.num_image_tokens
        )
        for q in QUESTIONS
    ]
    assert len({len(p) for p in prompts}) > 1
    pixels = image_pixels(processor, images)
    replies = generate_vl_texts(model, tokenizer, prompts, pixels, max_new_tokens=16)
    # eval/vqa.py's generation before it was shared: left padding by hand, cut at the first end-of-turn id
    pad, left = tokenizer.pad_token_id, max(map(len, prompts))
    ids = torch.full((len(prompts), left), pad, dtype=torch.long)
    mask = torch.zeros((len(prompts), left), dtype=torch.long)
    for row, p in enumerate(prompts):
        ids[row, left - len(p) :] = torch.tensor(p)
        mask[row, left - len(p) :] = 1
    out = model.generate(
        input_ids=ids, pixel_values=pixels, attention_mask=mask, max_new_tokens=16, do_sample=False, pad_token_id=pad
    )
    stops = end_of_turn_ids(tokenizer, model.language_model.generation_config.eos_token_id)
    expected = []
    for row in out.tolist():
        end = next((i for i, t in enumerate(row) if t in stops), len(row))
        expected.append(tokenizer.decode(row[:end], skip_special_tokens=True).strip())
    assert replies == expected


def test_a_reply_ends_at_the_first_end_of_turn_id() -> None:
    assert cut_at_end_of_turn([5, 6, 2, 7, 4], {2, 4}) == [5, 6]
    assert cut_at_end_of_turn([5, 6], {2}) == [5, 6]
    assert cut_at_end_of_turn([4, 5], {4}) == []
