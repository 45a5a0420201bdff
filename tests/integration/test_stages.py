"""Stage behaviour: streaming CPT tokenization, batch/accumulation invariance, the CLI's errors."""

import tracemalloc
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM

from qilin.cli import main
from qilin.config import CptSettings, ModelSettings
from qilin.models.loading import load_tokenizer
from qilin.stages import cpt
from qilin.stages.protocol import StageContext
from tests.conftest import corpus_lines, write_jsonl


def test_cpt_tokenization_streams_instead_of_loading_the_corpus(tiny_model_dir: Path, tmp_path: Path) -> None:
    corpus = tmp_path / "big.txt"
    lines = corpus_lines(2000)
    with corpus.open("w", encoding="utf-8") as f:
        for _ in range(40):
            f.write("\n".join(lines) + "\n")
    size = corpus.stat().st_size
    assert size > 6_000_000
    tokenizer = load_tokenizer(tiny_model_dir, ModelSettings())
    tracemalloc.start()
    dataset = cpt.build_packed_corpus([corpus], ["x"], tokenizer, 128, tmp_path / "cache")
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert len(dataset) > 1000
    assert peak < size / 4, f"peak Python memory {peak} bytes for a {size}-byte corpus"
    # the packed cache is reused: a second build with the same key does not tokenize again
    (tmp_path / "big.txt").write_text("")  # would fail to tokenize if read again
    again = cpt.build_packed_corpus([corpus], ["x"], tokenizer, 128, tmp_path / "cache")
    assert len(again) == len(dataset)


def _one_step(tiny_model_dir: Path, data: Path, out: Path, batch: int, accum: int) -> dict:
    cfg = CptSettings(
        data=[str(data)],
        block_size=32,
        finetune="full",
        batch_size=batch,
        grad_accum=accum,
        max_steps=1,
        learning_rate=1e-2,
        warmup_ratio=0.0,
        lr_scheduler="constant",
        save_steps=100,
    )
    cpt.run(StageContext(cfg, [data], ["x"], tiny_model_dir, ModelSettings(), out))
    return AutoModelForCausalLM.from_pretrained(out / "model").state_dict()


def test_batch_8x1_equals_batch_1x8(tiny_model_dir: Path, data_files: dict, tmp_path: Path) -> None:
    a = _one_step(tiny_model_dir, data_files["cpt"], tmp_path / "a", batch=8, accum=1)
    b = _one_step(tiny_model_dir, data_files["cpt"], tmp_path / "b", batch=1, accum=8)
    start = AutoModelForCausalLM.from_pretrained(tiny_model_dir).state_dict()
    assert any(not torch.equal(a[k], start[k]) for k in a), "the step changed nothing"
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=1e-4, atol=1e-5)


def test_cli_data_check_reports_and_exits_nonzero_on_bad_data(tmp_path: Path, capsys) -> None:
    good = write_jsonl(tmp_path / "good.jsonl", [{"instruction": "头痛？", "output": "休息"}] * 3)
    assert main(["data", "check", str(good), "--kind", "sft"]) == 0
    assert "format alpaca, 3 records, 0 bad" in capsys.readouterr().out
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"instruction": "头痛？", "output": "休息"}\n{"instruction": 3, "output": "x"}\n', encoding="utf-8")
    assert main(["data", "check", str(bad), "--kind", "sft"]) == 1
    out = capsys.readouterr().out
    assert "2 records, 1 bad" in out and "bad.jsonl:line 2: field 'instruction': expected str, got int" in out


def test_cli_refuses_a_bad_recipe_with_a_clear_message(tmp_path: Path, capsys) -> None:
    recipe = tmp_path / "r.yaml"
    recipe.write_text("stages:\n  sft:\n    data: [x.jsonl]\n    epoch: 3\n")
    assert main(["run", str(recipe)]) == 2
    err = capsys.readouterr().err
    assert "unknown key 'epoch' in 'stages.sft'" in err and "epochs" in err


def test_sft_runs_on_another_architecture(tiny_model_dir: Path, data_files: dict, tmp_path: Path) -> None:
    """Any HF causal LM loads from a local path: a Qwen2-architecture model built from its config."""
    from transformers import AutoTokenizer, Qwen2Config, Qwen2ForCausalLM

    from qilin.config import SftSettings
    from qilin.stages import sft

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    tokenizer.chat_template = None  # a base model without a template gets the named default (chatml)
    config = Qwen2Config(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=1,
        max_position_embeddings=256,
    )
    qwen_dir = tmp_path / "qwen"
    Qwen2ForCausalLM(config).save_pretrained(qwen_dir)
    tokenizer.save_pretrained(qwen_dir)
    cfg = SftSettings(data=[str(data_files["sft"])], max_length=64, batch_size=4, max_steps=3, save_steps=100)
    metrics = sft.run(StageContext(cfg, [data_files["sft"]], ["x"], qwen_dir, ModelSettings(), tmp_path / "sft"))
    assert metrics["steps"] == 3
    out = AutoModelForCausalLM.from_pretrained(tmp_path / "sft" / "model")
    assert type(out).__name__ == "Qwen2ForCausalLM"
    assert "<|im_start|>" in AutoTokenizer.from_pretrained(tmp_path / "sft" / "model").chat_template
