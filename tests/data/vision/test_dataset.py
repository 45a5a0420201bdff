"""VL examples: the image token expands to one position per feature, in training examples and in prompts alike."""

from __future__ import annotations

from pathlib import Path

from qilin.chat_templates import IGNORE_INDEX, IMAGE_TOKEN
from qilin.config import ModelSettings
from qilin.data.vision.dataset import expand_image_tokens, vl_prompt_ids
from qilin.models.loading import load_tokenizer


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
