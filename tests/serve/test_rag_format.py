"""`serve --rag` feeds the model what retrieval-aware SFT trained it on: the same rag_prompt user turn, rendered by
the same chat template, so the tokens before the reply are those of a training example's prompt."""

from __future__ import annotations

from pathlib import Path

from qilin.chat_templates import IGNORE_INDEX, chat_token_ids
from qilin.config import ModelSettings
from qilin.data.text.sft_examples import tokenize_sft_conversations
from qilin.models.loading import load_tokenizer
from qilin.rag.index import build_index, load_index
from qilin.rag.prompt import rag_prompt
from qilin.rag.training import PassagePrompts
from qilin.serve.front import with_passages
from tests.conftest import DISEASES

QUESTION = "高血压挂什么科？"


def test_served_prompt_is_the_trained_prompt(tiny_model_dir: Path, tmp_path: Path) -> None:
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("".join(f"{d}应到{dep}就诊。\n{d}患者常见{s}。\n" for d, dep, s, _ in DISEASES), encoding="utf-8")
    retriever = load_index(build_index([corpus], tmp_path / "index"))
    # a reading-practice question: it always gets passages, the one holding the answer among them
    trained = PassagePrompts(retriever, share=0.0, gold_share=0.0, top_k=2, reading=frozenset([QUESTION]))
    conversation = [{"role": "user", "content": QUESTION}, {"role": "assistant", "content": "心内科。"}]
    [example] = trained([conversation])
    served, passages = with_passages([{"role": "user", "content": QUESTION}], retriever, 2)
    assert served[-1]["content"] == rag_prompt(QUESTION, retriever.search(QUESTION, 2))
    assert [p["text"] for p in passages] == [p.text for p in retriever.search(QUESTION, 2)]
    assert "高血压应到心内科就诊。" in served[-1]["content"] and "高血压应到心内科就诊。" in example[0]["content"]
    for turn in (example[0]["content"], served[-1]["content"]):  # one format: passages numbered, then the question
        assert turn.startswith("参考资料：\n[1] ") and turn.endswith(f"\n\n问题：{QUESTION}")

    tokenizer = load_tokenizer(tiny_model_dir, ModelSettings())
    [tokens], _ = tokenize_sft_conversations([example], tokenizer, 512)
    prompt_length = next(i for i, label in enumerate(tokens["labels"]) if label != IGNORE_INDEX)
    # what the server renders for the trained user turn is exactly the prompt part of the training example
    assert chat_token_ids(tokenizer, example[:1], add_generation_prompt=True) == tokens["input_ids"][:prompt_length]
