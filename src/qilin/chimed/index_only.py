"""The case retrieval is for: facts that exist in the retrieval index only, and an exam slice about them.

Guidelines and drug labels change after a model is trained; retrieval is how a deployed model learns of them. The
miniature's version: new diseases (invented names, with a system, department, findings and examinations drawn from
the knowledge base) whose first-line drugs are new drugs, and guideline updates that add a new drug to a known
disease's first-line treatment. They are written as index documents (`index_only.jsonl`, the same sentence and
encyclopedia forms as the knowledge base) and asked about in `cmexam_index_only.csv`, whose distractors are facts of
the other index-only diseases, so that a model that has not read the passages sits at chance (20%).

No training text holds any of them: every invented name is checked against the training corpora when it is drawn,
and `build_index_only` refuses to write a slice whose names or questions appear in training text.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from qilin.chimed.dedup import find_leaks, normalize
from qilin.chimed.knowledge import Disease
from qilin.chimed.text import LETTERS, _exam_question, knowledge_documents

INDEX_ONLY_DISEASES = 30
GUIDELINE_UPDATES = 12
QUESTIONS_PER_DISEASE = 4
QUESTION_KINDS = ("department", "system", "treatments", "examinations", "complications", "risk_factors")

# Syllables of invented names: common characters (the demo's tokenizer encodes them), in no real disease or drug.
_NAME_HEADS = "岚栖苇榆杉桐萱蓼荻菱珀琅璎瑭翎翊涟沁澄霁"  # also the first syllable of every invented drug
_NAME_TAILS = ("综合征", "热", "病", "症")
_DRUG_MIDDLES = list("米诺达利福凡洛维")
_DRUG_TAILS = ("替尼", "单抗", "西泮", "格列汀", "拉韦", "奈德", "洛尔", "霉素")
GUIDELINE_TEMPLATES = (
    "新版指南更新：{d}的一线治疗新增{x}。",
    "{x}已获批用于{d}，新版指南将其列为一线治疗。",
)
GUIDELINE_STEM = "按照最新版指南，下列哪项是{d}新增的一线治疗药物？"


def _fresh(draw: Callable[[], str], taken: set[str], training: str) -> str:
    """A name from `draw` that no training text and no earlier draw contains (nor is contained in)."""
    for _ in range(10_000):
        name = draw()
        if name not in taken and name not in training and not any(name in t or t in name for t in taken):
            taken.add(name)
            return name
    raise ValueError("could not draw an invented name that no training text contains")


def index_only_facts(
    diseases: list[Disease],
    training_texts: list[str],
    seed: int = 0,
    heads: str = _NAME_HEADS,
    counts: tuple[int, int] = (INDEX_ONLY_DISEASES, GUIDELINE_UPDATES),
    salt: int = 25,
) -> tuple[list[Disease], list[tuple[str, str]]]:
    """(invented diseases with new drugs, [(known disease, new drug)] guideline updates), none in `training_texts`.

    `heads`: the first syllables of every invented name; `counts`: (invented diseases, guideline updates). Another
    set of facts drawn with other heads (`qilin.chimed.reading`) shares no name with this one.
    """
    rng = random.Random(seed + salt)
    training = "\u0000".join(normalize(t) for t in training_texts)
    taken: set[str] = set()

    def disease_name() -> str:
        return "".join(rng.sample(heads, 2)) + rng.choice(_NAME_TAILS)

    def drug_name() -> str:
        return rng.choice(heads) + rng.choice(_DRUG_MIDDLES) + rng.choice(_DRUG_TAILS)

    pool = {rel: sorted({v for d in diseases for v in d.facts(rel)}) for rel in ("symptoms", "examinations")}
    pool |= {rel: sorted({v for d in diseases for v in d.facts(rel)}) for rel in ("complications", "risk_factors")}
    invented = []
    for _ in range(counts[0]):
        model = rng.choice(diseases)  # a real system and department pair
        invented.append(
            Disease(
                name=_fresh(disease_name, taken, training),
                system=model.system,
                department=model.department,
                symptoms=rng.sample(pool["symptoms"], min(3, len(pool["symptoms"]))),
                examinations=rng.sample(pool["examinations"], min(2, len(pool["examinations"]))),
                treatments=[_fresh(drug_name, taken, training) for _ in range(2)],
                complications=rng.sample(pool["complications"], min(2, len(pool["complications"]))),
                risk_factors=rng.sample(pool["risk_factors"], min(2, len(pool["risk_factors"]))),
            )
        )
    updated = rng.sample(sorted(diseases, key=lambda d: d.name), min(counts[1], len(diseases)))
    updates = [(d.name, _fresh(drug_name, taken, training)) for d in updated]
    return invented, updates


def index_only_documents(invented: list[Disease], updates: list[tuple[str, str]], seed: int = 0) -> list[dict]:
    """The index documents: knowledge sentences and an encyclopedia entry per invented disease, guideline notes."""
    rng = random.Random(seed + 26)
    docs = [{**doc, "source": "index-only"} for doc in knowledge_documents(invented, rng)]
    for name, drug in updates:
        docs.append({"text": rng.choice(GUIDELINE_TEMPLATES).format(d=name, x=drug), "source": "index-only"})
    return docs


def index_only_exam(invented: list[Disease], updates: list[tuple[str, str]], seed: int = 0) -> list[dict]:
    """CMExam rows about index-only facts; distractors are other index-only facts (Knowledge = index-only)."""
    rng = random.Random(seed + 27)
    rows = []
    for d in invented:
        possible = [k for k in QUESTION_KINDS if d.facts(k)]  # a small user knowledge base may lack a relation
        for kind in rng.sample(possible, min(QUESTIONS_PER_DISEASE, len(possible))):
            row = _exam_question(kind, d, invented, rng)
            if row is not None:
                rows.append(row)
    new_drugs = sorted({t for d in invented for t in d.treatments} | {drug for _, drug in updates})
    for name, drug in updates:
        options = [drug, *rng.sample([x for x in new_drugs if x != drug], 4)]
        rng.shuffle(options)
        rows.append(
            {
                "Question": GUIDELINE_STEM.format(d=name),
                "Options": "\n".join(f"{LETTERS[i]} {o}" for i, o in enumerate(options)),
                "Answer": LETTERS[options.index(drug)],
                "Explanation": f"新版指南将{drug}列为{name}的一线治疗。",
                "Type": "guideline",
            }
        )
    rng.shuffle(rows)
    return [{**row, "Knowledge": "index-only"} for row in rows]


def index_only_names(invented: list[Disease], updates: list[tuple[str, str]]) -> list[str]:
    """Every invented name of the slice: diseases and drugs."""
    return [d.name for d in invented] + [t for d in invented for t in d.treatments] + [drug for _, drug in updates]


def build_index_only(
    diseases: list[Disease], training_texts: list[str], seed: int = 0
) -> tuple[list[dict], list[dict], list[str]]:
    """(index documents, exam rows, invented names), checked against `training_texts`: none of the names and none
    of the questions appears in them."""
    invented, updates = index_only_facts(diseases, training_texts, seed)
    docs = index_only_documents(invented, updates, seed)
    exam = index_only_exam(invented, updates, seed)
    names = index_only_names(invented, updates)
    joined = "\u0000".join(normalize(t) for t in training_texts)
    found = [n for n in names if normalize(n) in joined]
    leaks = find_leaks([row["Question"] for row in exam], training_texts)
    if found or leaks:
        raise ValueError(f"index-only facts in training text: names {found[:3]}, questions {leaks[:1]}")
    return docs, exam, names
