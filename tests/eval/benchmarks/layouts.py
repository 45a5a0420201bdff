"""Small benchmark files in each published layout (contents written for Qilin, layouts as released)."""

from __future__ import annotations

import json
from pathlib import Path


def cmb_file(path: Path) -> Path:
    """CMB-Exam: a pretty-printed JSON list, options A-E, one 多项选择题."""
    rows = [
        {
            "exam_type": "医师考试",
            "exam_class": "执业医师",
            "exam_subject": "临床执业医师",
            "question": "高血压患者首选就诊科室是",
            "answer": "B",
            "question_type": "单项选择题",
            "option": {"A": "眼科", "B": "心内科", "C": "皮肤科", "D": "骨科", "E": "口腔科"},
        },
        {
            "exam_type": "护理考试",
            "exam_class": "护士执业资格",
            "exam_subject": "护士执业资格",
            "question": "糖尿病的典型症状有",
            "answer": "AC",
            "question_type": "多项选择题",
            "option": {"A": "多饮", "B": "脱发", "C": "多尿", "D": "耳鸣", "E": ""},
        },
        {
            "exam_type": "护理考试",
            "exam_class": "护士执业资格",
            "exam_subject": "护士执业资格",
            "question": "哮喘发作时常用",
            "answer": "D",
            "question_type": "多项选择题",
            "option": {"A": "奥美拉唑", "B": "秋水仙碱", "C": "二甲双胍", "D": "沙丁胺醇"},
        },
    ]
    path.write_text(json.dumps(rows, ensure_ascii=False, indent=2), encoding="utf-8")
    return path


def medqa_file(path: Path) -> Path:
    """MedQA: JSON lines, an English USMLE question (5 options) and a Chinese MCMLE one (4 options)."""
    rows = [
        {
            "question": "A 23-year-old woman has burning on urination. Which drug is best?",
            "answer": "Nitrofurantoin",
            "options": {"A": "Ampicillin", "B": "Ceftriaxone", "C": "Doxycycline", "D": "Nitrofurantoin", "E": "None"},
            "meta_info": "step2&3",
            "answer_idx": "D",
        },
        {
            "question": "痛风急性发作首选",
            "answer": "秋水仙碱",
            "options": {"A": "秋水仙碱", "B": "别嘌醇", "C": "阿司匹林", "D": "青霉素"},
            "meta_info": "第三部分　临床医学综合",
            "answer_idx": "A",
        },
    ]
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def cmmlu_file(path: Path) -> Path:
    """CMMLU: one subject's CSV with the unnamed index column."""
    path.write_text(
        ",Question,A,B,C,D,Answer\n0,胃炎常用哪种药物治疗？,奥美拉唑,沙丁胺醇,秋水仙碱,氨氯地平,A\n"
        '1,"哮喘患者的典型症状是",头痛,喘息,腹泻,皮疹,B\n',
        encoding="utf-8",
    )
    return path


def medmcqa_file(path: Path, base: int = 1, answers: bool = True) -> Path:
    """MedMCQA: JSON lines in a .json file, `cop` numbered from `base` (1: original release, 0: HF export)."""
    rows = [
        ("Which nerve supplies the deltoid?", ["Axillary", "Radial", "Ulnar", "Median"], 0, "Anatomy"),
        ("Drug of choice in absence seizures?", ["Phenytoin", "Carbamazepine", "Ethosuximide", "Lamotrigine"], 2,
         "Pharmacology"),
        ("Vitamin deficient in scurvy?", ["A", "D", "K", "C"], 3, "Biochemistry"),
    ]  # fmt: skip
    lines = []
    for i, (q, opts, gold, subject) in enumerate(rows):
        row = {"id": f"m{i}", "question": q, **dict(zip(("opa", "opb", "opc", "opd"), opts, strict=True))}
        if answers:
            row["cop"] = gold + base
        row.update(choice_type="single", exp="", subject_name=subject, topic_name=None)
        lines.append(json.dumps(row) + "\n")
    path.write_text("".join(lines), encoding="utf-8")
    return path


def pubmedqa_file(path: Path) -> Path:
    """PubMedQA ori_pqal.json: one object keyed by PMID, on one line as released."""
    data = {
        "21645374": {
            "QUESTION": "Does exercise lower blood pressure in adults with hypertension?",
            "CONTEXTS": ["We enrolled 120 adults.", "Systolic pressure fell by 8 mmHg."],
            "LABELS": ["METHODS", "RESULTS"],
            "YEAR": "2011",
            "reasoning_required_pred": "yes",
            "reasoning_free_pred": "yes",
            "final_decision": "yes",
            "LONG_ANSWER": "Exercise lowered blood pressure.",
        },
        "9488747": {
            "QUESTION": "Is vitamin C effective against gout?",
            "CONTEXTS": ["A small trial of 40 patients."],
            "final_decision": "maybe",
        },
    }
    path.write_text(json.dumps(data), encoding="utf-8")
    return path
