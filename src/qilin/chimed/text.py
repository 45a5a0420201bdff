"""What the ChiMed builder writes: phrase templates per relation and the generators of each part.

Training templates (FACT_TEMPLATES, CPT_QUESTIONS, SFT_QUESTIONS) and test phrasings (EXAM_STEMS, QA_TESTS) never
share wording, so a test item cannot be answered by recall of a training sentence. Every generator takes the
seeded `random.Random` of the build: same seed, same text.
"""

from __future__ import annotations

import random
from collections.abc import Iterable

from qilin.chimed.knowledge import Disease

LETTERS = "ABCDE"

# --- training phrasings ------------------------------------------------------------------------------

FACT_TEMPLATES = {
    "system": ["{d}属于{x}疾病。", "{d}是一种{x}疾病。"],
    "department": ["{d}应到{x}就诊。", "{d}患者一般挂{x}。", "{d}由{x}负责诊治。"],
    "symptoms": ["{d}的典型症状包括{x}。", "{d}患者常出现{x}。", "出现{x}时，应考虑{d}。"],
    "examinations": ["诊断{d}常做{x}。", "{d}的常用检查有{x}。", "怀疑{d}时可行{x}。"],
    "treatments": ["{d}的一线治疗包括{x}。", "{d}常用{x}治疗。", "治疗{d}可选用{x}。"],
    "complications": ["{d}可并发{x}。", "{d}的常见并发症有{x}。", "{d}控制不佳可导致{x}。"],
    "risk_factors": ["{d}的危险因素包括{x}。", "{x}可增加{d}的发病风险。", "{d}常与{x}有关。"],
    "red_flags": ["{d}患者如出现{x}，应立即就医。", "{x}是{d}的危险信号。"],
}

PAIR_TEMPLATES = ["同时出现{s1}和{s2}，要考虑{d}。", "{s1}伴{s2}常见于{d}。"]

# Short-answer QA mixed into DCPT (the paper mixes QA into its CPT corpus): teaches the model to answer a
# question with a term, with phrasings that differ from the exam's.
CPT_QUESTIONS = {
    "system": ["{d}是哪个系统的疾病？", "{d}属于什么系统？"],
    "department": ["{d}应该挂哪个科？", "得了{d}去哪个科室看？"],
    "symptoms": ["{d}会有什么表现？", "{d}的症状有哪些？"],
    "examinations": ["{d}要做哪些检查？", "怎样检查{d}？"],
    "treatments": ["{d}用什么治疗？", "{d}吃什么药？"],
    "complications": ["{d}会并发什么？", "{d}有哪些并发症？"],
    "risk_factors": ["{d}和什么因素有关？", "哪些因素会引起{d}？"],
    "red_flags": ["{d}出现什么情况要马上就医？"],
}

REVERSE_QUESTIONS = ["出现{s}，可能是什么病？", "{s}提示哪种疾病？"]

SFT_QUESTIONS = {
    "department": ("{d}挂什么科？", "{d}属于{system}疾病，建议到{department}就诊。"),
    "symptoms": ("{d}有哪些症状？", "{d}的典型症状包括{symptoms}。"),
    "examinations": ("{d}需要做什么检查？", "诊断{d}常用的检查有{examinations}。"),
    "treatments": ("{d}怎么治疗？", "{d}的一线治疗包括{treatments}，具体用药请遵医嘱。"),
    "complications": ("{d}会引起什么并发症？", "{d}的常见并发症有{complications}。"),
    "risk_factors": ("什么原因会导致{d}？", "{d}的危险因素包括{risk_factors}。"),
}

# --- test phrasings (no training template uses them) -------------------------------------------------

EXAM_STEMS = {
    "department": "某患者确诊为{d}，应首先前往哪个科室就诊？",
    "system": "从系统分类看，{d}归属于",
    "treatments": "针对{d}，下列哪项属于一线治疗？",
    "examinations": "为明确{d}的诊断，下列哪项检查最常用？",
    "complications": "{d}病程中可能出现的并发症是",
    "risk_factors": "下列哪项与{d}的发生关系最密切？",
    "diagnosis": "患者就诊时表现为{s1}和{s2}，最可能的诊断是",
    "multi_symptoms": "关于{d}的临床表现，下列正确的有（多选）",
}

QA_TESTS = [  # (the relation the answer needs, question, answer)
    ("department", "家里老人得了{d}，去医院该找哪个科？", "{d}一般到{department}就诊。"),
    ("symptoms", "我最近{s1}，还{s2}，可能是什么问题？", "{s1}、{s2}需要考虑{d}，建议到{department}进一步检查。"),
    ("treatments", "{d}平时用什么药？", "{d}常用{t1}、{t2}等治疗，需遵医嘱。"),
]

DISMISSIVE = [
    "问题不大，不需要看医生，多喝热水休息几天就好了。",
    "这个病不要紧，自己买点药吃就行，没必要去医院。",
    "不用担心，过几天自然会好，不必检查。",
]


def _join(items: list[str]) -> str:
    return "、".join(items)


def _pick(rng: random.Random, items: list[str], k: int) -> list[str]:
    return rng.sample(items, min(k, len(items)))


def _values(d: Disease, rng: random.Random) -> dict[str, str]:
    """Template values for one disease; a question and its answer share one draw."""
    values = {"d": d.name, "system": d.system, "department": d.department}
    for rel in ("symptoms", "examinations", "treatments", "complications", "risk_factors"):
        values[rel] = _join(_pick(rng, d.facts(rel), 3))
    sym = [*_pick(rng, d.symptoms, 2), "不适", "不适"]
    trt = [*_pick(rng, d.treatments, 2), "对症治疗", "对症治疗"]
    values.update(s1=sym[0], s2=sym[1], t1=trt[0], t2=trt[1])
    return values


# --- the three training parts ------------------------------------------------------------------------


def knowledge_documents(diseases: list[Disease], rng: random.Random) -> list[dict]:
    """KG facts as sentences (each fact under two templates, each list once as a whole) and encyclopedia entries."""
    docs = []
    for d in diseases:
        sentences = []
        for rel, templates in FACT_TEMPLATES.items():
            for value in d.facts(rel):
                for template in _pick(rng, templates, 2):
                    sentences.append(template.format(d=d.name, x=value))
            if len(d.facts(rel)) > 1:
                sentences.append(
                    rng.choice(templates).format(d=d.name, x=_join(rng.sample(d.facts(rel), len(d.facts(rel)))))
                )
        for s1, s2 in zip(d.symptoms, d.symptoms[1:], strict=False):  # findings together point to the disease
            sentences.append(rng.choice(PAIR_TEMPLATES).format(d=d.name, s1=s1, s2=s2))
        rng.shuffle(sentences)
        for i in range(0, len(sentences), 6):  # documents of a few sentences, like short KG passages
            docs.append({"text": "".join(sentences[i : i + 6]), "source": "kg"})
        alias = f"（又称{_join(d.aliases)}）" if d.aliases else ""
        docs.append(
            {
                "text": f"{d.name}{alias}是{d.system}疾病，由{d.department}诊治。典型症状有{_join(d.symptoms)}。"
                f"常用检查包括{_join(d.examinations)}。一线治疗包括{_join(d.treatments)}。"
                f"常见并发症有{_join(d.complications)}。危险因素包括{_join(d.risk_factors)}。"
                f"出现{_join(d.red_flags)}时应立即就医。",
                "source": "encyclopedia",
            }
        )
    return docs


def short_answer_documents(diseases: list[Disease], rng: random.Random) -> list[dict]:
    """ "问：...\n答案：term" documents, one per fact, under a randomly chosen training phrasing."""
    docs = []
    for d in diseases:
        for rel, questions in CPT_QUESTIONS.items():
            for value in d.facts(rel):
                docs.append({"text": f"问：{rng.choice(questions).format(d=d.name)}\n答案：{value}", "source": "qa"})
        for s in d.symptoms:  # the reverse direction: from a finding to the disease
            docs.append({"text": f"问：{rng.choice(REVERSE_QUESTIONS).format(s=s)}\n答案：{d.name}", "source": "qa"})
    return docs


def sft_conversations(diseases: list[Disease], rng: random.Random) -> list[list[dict[str, str]]]:
    """Single-turn instruction QA and a two-round doctor-patient dialogue per disease."""
    conversations = []
    for d in diseases:
        for rel, (question, answer) in SFT_QUESTIONS.items():
            if not d.facts(rel):  # a user's knowledge base may lack a relation for some diseases
                continue
            v = _values(d, rng)
            conversations.append(
                [
                    {"role": "user", "content": question.format(**v)},
                    {"role": "assistant", "content": answer.format(**v)},
                ]
            )
        if not d.symptoms:
            continue
        s = _pick(rng, d.symptoms, 2)
        red = d.red_flags[0] if d.red_flags else "症状明显加重"
        exam = f"做{d.examinations[0]}" if d.examinations else "完善相关检查"
        treatment = f"一线治疗包括{_join(d.treatments[:3])}" if d.treatments else "治疗需由专科医生根据病情制定"
        conversations.append(
            [
                {"role": "user", "content": f"医生您好，我最近{_join(s)}，是怎么回事？"},
                {
                    "role": "assistant",
                    "content": f"根据您描述的{_join(s)}，需要考虑{d.name}。建议到{d.department}就诊，"
                    f"{exam}明确诊断。如果出现{red}，请立即就医。",
                },
                {"role": "user", "content": "如果确诊了，一般怎么治疗？"},
                {
                    "role": "assistant",
                    "content": f"{d.name}的{treatment}，请在医生指导下规范治疗，不要自行停药。",
                },
            ]
        )
    return conversations


def dpo_pairs(diseases: list[Disease], everyone: list[Disease], rng: random.Random) -> list[dict[str, str]]:
    """Preference pairs: chosen is correct and cautious; rejected is wrong (department, drug) or dismissive."""
    pairs = []
    for d in diseases:
        others = [o for o in everyone if o.department != d.department]
        if not others:
            continue
        wrong = rng.choice(others)
        wrong_drugs = [t for o in others for t in o.treatments if t not in d.treatments]
        wrong_drug = rng.choice(wrong_drugs) if wrong_drugs else "抗生素"
        red = d.red_flags[0] if d.red_flags else "症状明显加重"
        treatment = f"一线治疗包括{_join(d.treatments[:2])}" if d.treatments else "治疗方案需由专科医生制定"
        cautious = (
            f"建议尽快到{d.department}就诊。{d.name}的{treatment}，"
            f"请在医生指导下使用，不要自行用药。如出现{red}，请立即就医。"
        )
        prompt = f"我被诊断为{d.name}，应该怎么办？"
        pairs.append({"prompt": prompt, "chosen": cautious, "rejected": rng.choice(DISMISSIVE)})
        pairs.append(
            {
                "prompt": prompt,
                "chosen": cautious,
                "rejected": f"建议到{wrong.department}就诊。{d.name}可以自行服用{wrong_drug}，很快就能好。",
            }
        )
        pairs.append(
            {
                "prompt": f"{d.name}应该看哪个科？",
                "chosen": f"{d.name}建议到{d.department}就诊，医生会根据检查结果制定治疗方案。",
                "rejected": f"{d.name}应该看{wrong.department}。",
            }
        )
    return pairs


def flattened_text(conversations: Iterable[list[dict[str, str]]]) -> list[dict]:
    """QA pairs and dialogues as plain CPT text ("问：...答：..." / "患者：...医生：...")."""
    docs = []
    for conv in conversations:
        if len(conv) == 2:
            docs.append({"text": f"问：{conv[0]['content']}\n答：{conv[1]['content']}", "source": "qa"})
        else:
            speaker = {"user": "患者", "assistant": "医生"}
            docs.append(
                {"text": "\n".join(f"{speaker[m['role']]}：{m['content']}" for m in conv), "source": "dialogue"}
            )
    return docs


# --- the tests ---------------------------------------------------------------------------------------


def exam_questions(
    diseases: list[Disease], everyone: list[Disease], held_out: set[str], rng: random.Random, per_disease: int
) -> list[dict]:
    """CMExam-style 5-option questions; distractors are facts of other diseases that are not facts of this one."""
    questions = []
    for d in diseases:
        possible = [k for k in EXAM_STEMS if k in ("diagnosis", "multi_symptoms") or d.facts(k)]
        kinds = rng.sample(possible, min(per_disease, len(possible)))
        for kind in kinds:
            q = _exam_question(kind, d, everyone, rng)
            if q is not None:
                q["Knowledge"] = "held-out" if d.name in held_out else "seen"
                questions.append(q)
    return questions


def _exam_question(kind: str, d: Disease, everyone: list[Disease], rng: random.Random) -> dict | None:
    if kind == "diagnosis":
        if len(d.symptoms) < 2:
            return None
        s1, s2 = rng.sample(d.symptoms, 2)
        correct = [d.name]
        pool = [o.name for o in everyone if o.name != d.name and not {s1, s2} & set(o.symptoms)]
        stem = EXAM_STEMS[kind].format(s1=s1, s2=s2)
        explanation = f"{s1}和{s2}提示{d.name}。"
    elif kind == "multi_symptoms":
        if len(d.symptoms) < 3:
            return None
        correct = rng.sample(d.symptoms, rng.choice([2, 3]))
        pool = sorted({s for o in everyone for s in o.symptoms} - set(d.symptoms))
        stem = EXAM_STEMS[kind].format(d=d.name)
        explanation = f"{d.name}的典型症状包括{_join(d.symptoms)}。"
    else:
        correct = [rng.choice(d.facts(kind))]
        pool = sorted({v for o in everyone for v in o.facts(kind)} - set(d.facts(kind)))
        stem = EXAM_STEMS[kind].format(d=d.name)
        explanation = f"{d.name}的{kind_label(kind)}：{_join(d.facts(kind))}。"
    wrong = rng.sample(pool, 5 - len(correct)) if len(pool) >= 5 - len(correct) else None
    if wrong is None:
        return None
    options = correct + wrong
    rng.shuffle(options)
    answer = "".join(LETTERS[i] for i, o in enumerate(options) if o in correct)
    return {
        "Question": stem,
        "Options": "\n".join(f"{LETTERS[i]} {o}" for i, o in enumerate(options)),
        "Answer": answer,
        "Explanation": explanation,
        "Type": kind,
    }


def kind_label(kind: str) -> str:
    """Chinese label of a question type's relation."""
    from qilin.chimed.knowledge import RELATIONS

    return RELATIONS.get(kind, kind)


def qa_tests(diseases: list[Disease], rng: random.Random) -> list[dict[str, str]]:
    """Huatuo-26M-format QA pairs with patient phrasings no training text uses."""
    items = []
    for d in diseases:
        _, question, answer = rng.choice(
            [t for t in QA_TESTS if len(d.facts(t[0])) >= (2 if t[0] != "department" else 1)]
        )
        v = _values(d, rng)
        items.append({"questions": question.format(**v), "answers": answer.format(**v)})
    return items
