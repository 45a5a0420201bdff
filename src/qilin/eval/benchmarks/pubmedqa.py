"""PubMedQA (Jin et al. 2019, arXiv 1909.06146): yes/no/maybe questions on a PubMed abstract.

`data/ori_pqal.json` holds the 1,000 expert-labelled questions (PQA-L) as an object keyed by PMID. Papers report
the 500-question test split: the PMIDs of `data/test_ground_truth.json` (a PMID -> decision map, no questions),
which the authors' `preprocess/split_dataset.py pqal` writes as `data/test_set.json` in the layout below. Score
`test_set.json` for the published figure; `ori_pqal.json` mixes the test split with the 500 cross-validation ones.

    {"21645374": {"QUESTION": "Do mitochondria play a role in ...?", "CONTEXTS": ["...", "..."],
                  "final_decision": "yes", "LONG_ANSWER": "...", "YEAR": "2011", ...}}

The abstract's contexts go before the question ("Abstract: ...\\nQuestion: ...\\nAnswer: yes", as
lm-evaluation-harness's pubmedqa task reads it); the options are A yes, B no, C maybe. No groups.
"""

from __future__ import annotations

from qilin.data.records import DataError
from qilin.eval.benchmarks.raw import RawFile, required
from qilin.eval.multiple_choice import ExamQuestion

DECISIONS = {"yes": "A", "no": "B", "maybe": "C"}


def pubmedqa_questions(raw: RawFile) -> list[ExamQuestion]:
    """PubMedQA questions keyed by PMID, the abstract before the question."""
    if raw.kind != "keyed":
        raise DataError(raw.path, "", "PubMedQA's ori_pqal.json is one JSON object keyed by PMID")
    questions = []
    for where, pmid, obj in raw.records:
        contexts = required(obj, "CONTEXTS", raw.path, where, list)
        if not all(isinstance(c, str) for c in contexts):
            raise DataError(raw.path, where, "field 'CONTEXTS': expected a list of strings")
        decision = required(obj, "final_decision", raw.path, where).lower()
        if decision not in DECISIONS:
            raise DataError(raw.path, where, f"field 'final_decision': expected yes, no or maybe, got {decision!r}")
        question = required(obj, "QUESTION", raw.path, where)
        questions.append(
            ExamQuestion(
                question=f"Abstract: {' '.join(c.strip() for c in contexts)}\nQuestion: {question}",
                options={letter: text for text, letter in DECISIONS.items()},
                answer=frozenset(DECISIONS[decision]),
                explanation=str(obj.get("LONG_ANSWER") or "").strip(),
                id=pmid,
                language="en",
            )
        )
    return questions
