"""benchmarks/rag_reading.py's training material: copy runs are scored on their repeats only, and a reading block
holds its answer in exactly the passage about the asked disease, among passages about other invented diseases."""

from __future__ import annotations

import random
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))

from rag_reading import BLOCK, copy_run, reading_block  # noqa: E402

HEADS = "霍脏胰动饱窦抗水岁静月短盘案兰腰司他离溶骨黏分伴疟甲急持神冬早机"  # syllables of the invented names


def test_copy_runs_are_labelled_on_their_repeats_only() -> None:
    ids, labels = copy_run(list(range(100, 140)), random.Random(0))
    assert len(ids) == len(labels) == BLOCK
    scored = [i for i, label in enumerate(labels) if label != -100]
    assert 0.4 * BLOCK < len(scored) < 0.6 * BLOCK  # about half: every run is followed by its repeat
    assert all(labels[i] == ids[i] for i in scored)
    first = scored[0]  # the first repeat copies the run just before it
    assert ids[first : first + first] == ids[:first]


def test_a_reading_block_answers_from_the_passage_about_its_disease() -> None:
    from qilin.chimed.knowledge import load_kb
    from qilin.chimed.text import CPT_QUESTIONS

    kb = load_kb()
    phrasings = [re.escape(q).replace(re.escape("{d}"), "(.+)") for qs in CPT_QUESTIONS.values() for q in qs]
    for seed in range(5):
        block = reading_block(
            kb, "霍脏胰动饱窦抗水岁静月短盘案兰腰司他离溶骨黏分伴疟甲急持神冬早机", random.Random(seed)
        )
        passages = re.findall(r"^\[\d\] (.*)$", block, flags=re.M)
        question, answer = re.search(r"问题：(.*)\n答案：(.*)$", block).groups()
        disease = next(m.group(1) for p in phrasings if (m := re.fullmatch(p, question)))
        assert len(passages) == 3
        assert [p for p in passages if disease in p and answer in p]  # the passage that holds the answer
        assert [p for p in passages if disease not in p]  # and at least one about another invented disease
