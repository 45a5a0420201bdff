"""The Qilin-Med-VL model exports to transformers' LLaVA layout with the same logits, or refuses clearly."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from transformers import LlavaForConditionalGeneration

from qilin.config import ModelSettings, VisionSettings
from qilin.models.vl import export_llava


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


def test_export_llava_from_the_command_line_refuses_a_linear_projector(
    tiny_vl_dir: Path, tmp_path: Path, capsys
) -> None:
    from qilin.cli import main

    # the tiny VL model has the paper's linear projector, which has no LLaVA equivalent: a clear refusal
    assert main(["export", "llava", str(tiny_vl_dir), str(tmp_path / "llava")]) == 2
    assert "only the 'mlp' projector" in capsys.readouterr().err
    assert not (tmp_path / "llava").exists() and not (tmp_path / "llava.tmp").exists()


def test_export_llava_refuses_a_text_model_in_one_line(tiny_model_dir: Path, tmp_path: Path, capsys) -> None:
    from qilin.cli import main

    assert main(["export", "llava", str(tiny_model_dir), str(tmp_path / "llava")]) == 2
    err = capsys.readouterr().err
    assert "is not a Qilin-Med-VL output (model_type 'llama')" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_exported_processor_renders_image_parts_and_generates_as_qilin(
    tiny_model_dir: Path, vision_dir: Path, tmp_path: Path
) -> None:
    from PIL import Image
    from transformers import AutoProcessor

    from qilin.chat_templates import render_prompt
    from qilin.cli import main
    from qilin.data.vision.formats import with_image_token
    from qilin.models.loading import save_pretrained_atomic
    from qilin.models.vision import prepare_vl_model
    from qilin.serve.chat import generate_vl_reply

    model, tokenizer, processor = prepare_vl_model(
        tiny_model_dir, vision_dir, VisionSettings(projector="mlp", feature_layer=-2), ModelSettings()
    )
    save_pretrained_atomic(model, tokenizer, tmp_path / "vl", processor)
    assert main(["export", "llava", str(tmp_path / "vl"), str(tmp_path / "llava")]) == 0

    image = Image.new("RGB", (40, 30), (120, 10, 200))
    question = "这是什么检查？"
    conversation = [
        {"role": "user", "content": [{"type": "image", "image": image}, {"type": "text", "text": question}]}
    ]
    exported = AutoProcessor.from_pretrained(tmp_path / "llava")
    text = exported.apply_chat_template(conversation, add_generation_prompt=True, tokenize=False)
    assert text == render_prompt(tokenizer, with_image_token([{"role": "user", "content": question}]))
    assert "<image>\n这是什么检查？" in text and "[{" not in text  # the part, not the Python repr of the list

    inputs = exported.apply_chat_template(
        conversation, add_generation_prompt=True, tokenize=True, return_dict=True, return_tensors="pt"
    )
    llava = LlavaForConditionalGeneration.from_pretrained(tmp_path / "llava").eval()
    out = llava.generate(**inputs, max_new_tokens=6, do_sample=False)
    reply = exported.decode(out[0, inputs["input_ids"].shape[1] :], skip_special_tokens=True).strip()
    model.eval()
    qilin = generate_vl_reply(model, tokenizer, processor, image, [{"role": "user", "content": question}], 6)
    assert reply == qilin  # the same greedy reply as Qilin's own VL path on the same image
