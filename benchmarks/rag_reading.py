"""Can the model read its passages? Invented facts asked with and without the passage that holds them, before and
after training the model on copying and on reading.

The index-only slice measures reading on the demo; this probe isolates it. It draws a slice of invented diseases
(as `qilin.chimed.index_only` does) whose names are built from characters the tokenizer holds as whole tokens,
so that a miss cannot be put on names the model has never seen a token of, and scores it by option
log-likelihood twice: the question alone, and with the passage holding the answer among two distractor passages
(an oracle retriever, `rag_prompt`'s format). It then trains a copy of the model in two phases and probes again:

- copy: runs of random tokens, each followed by its repeat, loss on the repeats only (what forms induction
  heads, the circuit that copies a token sequence from the context);
- reading: blocks of three passages about freshly invented diseases, a question in a training phrasing and the
  answer, mixed with the DCPT corpus and some copy runs; every block names new diseases, so only reading helps.

PYTHONPATH=src python benchmarks/rag_reading.py                                    # probe the demo's DCPT model
PYTHONPATH=src python benchmarks/rag_reading.py --copy-steps 500 --reading-steps 1800 --out runs/reading.json
"""

from __future__ import annotations

import argparse
import collections
import json
import random
import time
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from qilin.chimed.index_only import index_only_documents, index_only_exam, index_only_facts
from qilin.chimed.knowledge import Disease, load_kb
from qilin.chimed.text import CPT_QUESTIONS, knowledge_documents
from qilin.durable import write_atomic
from qilin.eval.multiple_choice import ExamQuestion, predict, score_options
from qilin.rag.index import Passage
from qilin.rag.prompt import rag_prompt

RELATIONS = ("department", "system", "symptoms", "examinations", "treatments", "complications", "risk_factors")
BLOCK = 256
BATCH = 16


def whole_token_characters(tokenizer, texts: list[str], min_count: int = 20) -> list[str]:
    """CJK characters frequent in `texts` that the tokenizer encodes as one token."""
    counts = collections.Counter("".join(texts))
    return sorted(
        c
        for c, n in counts.items()
        if n >= min_count
        and "\u4e00" <= c <= "\u9fff"
        and len(tokenizer(c, add_special_tokens=False)["input_ids"]) == 1
    )


def passages_about(d: Disease, rng: random.Random) -> list[str]:
    return [doc["text"] for doc in knowledge_documents([d], rng)]


def probe(model, tokenizer, kb: list[Disease], training: list[str], heads: str, seed: int = 0) -> dict[str, float]:
    """Accuracy (%) on an invented slice without passages and with the oracle passage among two distractors."""
    invented, updates = index_only_facts(kb, training, seed=seed, heads=heads, salt=99)
    rows = index_only_exam(invented, updates, seed=seed)
    docs = [doc["text"] for doc in index_only_documents(invented, updates, seed=seed)]
    names = sorted([d.name for d in invented] + [name for name, _ in updates], key=len, reverse=True)
    rng = random.Random(seed)
    result = {}
    for mode in ("no passages", "oracle passage"):
        questions = []
        for row in rows:
            text = row["Question"]
            if mode == "oracle passage":
                name = next(n for n in names if n in text)
                options = [o.split(" ", 1)[1] for o in row["Options"].split("\n")]
                answer = options["ABCDE".index(row["Answer"][0])]
                gold = [p for p in docs if name in p and answer in p][:1]
                chosen = rng.sample([p for p in docs if name not in p], 2) + gold
                rng.shuffle(chosen)
                text = rag_prompt(text, [Passage(text=p, score=0.0, source="probe", doc=0) for p in chosen])
            options = dict(o.split(" ", 1) for o in row["Options"].split("\n"))
            questions.append(ExamQuestion(question=text, options=options, answer=frozenset(row["Answer"])))
        model.eval()
        scores = score_options(model, tokenizer, questions)
        model.train()
        right = sum(predict(s, len(q.answer) > 1, False) == q.answer for s, q in zip(scores, questions, strict=True))
        result[mode] = round(100 * right / len(questions), 1)
    return result


def reading_block(kb: list[Disease], heads: str, rng: random.Random) -> str:
    """Three passages about freshly invented diseases, a question on one of them, its answer."""
    invented, _ = index_only_facts(kb, [], seed=rng.randrange(10**9), heads=heads, counts=(3, 0), salt=0)
    asked = invented[0]
    relation = rng.choice([r for r in RELATIONS if asked.facts(r)])
    value = rng.choice(asked.facts(relation))
    gold = [p for p in passages_about(asked, rng) if value in p and asked.name in p][:1]
    chosen = rng.sample([p for other in invented[1:] for p in passages_about(other, rng)], 3 - len(gold)) + gold
    rng.shuffle(chosen)
    question = rng.choice(CPT_QUESTIONS[relation]).format(d=asked.name)
    prompt = rag_prompt(question, [Passage(text=p, score=0.0, source="reading", doc=0) for p in chosen])
    return f"{prompt}\n答案：{value}"


def copy_run(token_ids: list[int], rng: random.Random) -> tuple[list[int], list[int]]:
    """A block of random token runs each followed by its repeat; labels on the repeats only."""
    ids, labels = [], []
    while len(ids) < BLOCK:
        run = [rng.choice(token_ids) for _ in range(rng.randint(8, 30))]
        ids += run + run
        labels += [-100] * len(run) + run
    labels = labels[:BLOCK]
    labels[0] = -100
    return ids[:BLOCK], labels


def text_blocks(tokenizer, texts):
    """Endless 256-token blocks of `texts()` (called again when it runs out), EOS between texts."""
    buffer: list[int] = []
    while True:
        for text in texts():
            buffer += tokenizer(text, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
            while len(buffer) >= BLOCK:
                yield buffer[:BLOCK], buffer[:BLOCK]
                buffer = buffer[BLOCK:]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="runs/demo/cpt/model", help="the model to probe (the demo's DCPT model)")
    parser.add_argument("--cpt", default="runs/demo/data/chimed_cpt.jsonl", help="DCPT text, mixed into reading")
    parser.add_argument("--copy-steps", type=int, default=0, help="steps of copy runs (batch 16 x 256 tokens)")
    parser.add_argument("--reading-steps", type=int, default=0, help="steps of reading blocks mixed with DCPT text")
    parser.add_argument("--reading-share", type=float, default=0.5, help="share of reading blocks in those steps")
    parser.add_argument("--probe-every", type=int, default=300)
    parser.add_argument("--learning-rate", type=float, default=1.5e-3)
    parser.add_argument("--out", type=Path, help="write the figures here as JSON")
    args = parser.parse_args()
    torch.manual_seed(0)
    tokenizer = AutoTokenizer.from_pretrained(args.model)
    model = AutoModelForCausalLM.from_pretrained(args.model)
    cpt = [json.loads(line)["text"] for line in Path(args.cpt).read_text(encoding="utf-8").splitlines() if line]
    kb = load_kb()
    pool = whole_token_characters(tokenizer, cpt)
    random.Random(0).shuffle(pool)
    # probe names and reading-practice names from disjoint halves: reading must carry over to unseen names
    probe_heads, reading_heads = "".join(pool[::2]), "".join(pool[1::2])
    rows = [{"phase": "start", "step": 0, **probe(model, tokenizer, kb, cpt, probe_heads)}]
    print(rows[-1], flush=True)
    rng = random.Random(1)
    token_ids = [tokenizer.convert_tokens_to_ids(tokenizer.tokenize(c))[0] for c in pool]
    copies = iter(lambda: copy_run(token_ids, rng), None)
    texts = text_blocks(tokenizer, lambda: rng.sample(cpt, len(cpt)))
    reading = text_blocks(tokenizer, lambda: [reading_block(kb, reading_heads, rng) for _ in range(100)])
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.learning_rate, weight_decay=0.0)
    started = time.perf_counter()
    for phase, steps in (("copy", args.copy_steps), ("reading", args.reading_steps)):
        for step in range(1, steps + 1):
            batch = []
            for _ in range(BATCH):
                draw = rng.random()
                source = (
                    copies if phase == "copy" or draw < 0.1 else reading if draw < 0.1 + args.reading_share else texts
                )
                batch.append(next(source))
            ids = torch.tensor([b[0] for b in batch])
            loss = model(input_ids=ids, labels=torch.tensor([b[1] for b in batch])).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            optimizer.zero_grad()
            if step % 50 == 0:
                print(
                    f"{phase} step {step}: loss {loss.item():.3f} ({time.perf_counter() - started:.0f} s)", flush=True
                )
            if step == steps or step % args.probe_every == 0:
                rows.append({"phase": phase, "step": step, "loss": round(loss.item(), 3)})
                if phase == "reading" or step == steps:
                    rows[-1] |= probe(model, tokenizer, kb, cpt, probe_heads)
                print(rows[-1], flush=True)
    if args.out:
        write_atomic(args.out, json.dumps(rows, ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
