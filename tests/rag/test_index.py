"""Qilin-Med-RAG retrieval: passage splitting, BM25 and dense indexes on a small medical corpus, the prompt."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from qilin.data.records import DataError
from qilin.rag.index import Passage, build_index, load_index
from qilin.rag.passages import read_passages, split_passages
from qilin.rag.prompt import rag_prompt

# One document per disease: its symptoms first, then its treatment.
DOCS = {
    "高血压": "高血压患者常见头晕、头痛、心悸，血压持续高于140/90毫米汞柱。治疗常用氨氯地平等降压药，并需低盐饮食。",
    "糖尿病": "糖尿病典型症状为多饮、多尿、多食和体重下降，空腹血糖升高。常用二甲双胍控制血糖。",
    "哮喘": "支气管哮喘表现为反复发作的喘息、气急、胸闷和咳嗽，夜间及凌晨加重。急性发作时吸入沙丁胺醇缓解。",
    "胃炎": "慢性胃炎常见上腹部隐痛、饱胀、嗳气和反酸，与幽门螺杆菌感染有关。治疗可用奥美拉唑抑制胃酸。",
    "痛风": "痛风急性发作时第一跖趾关节突然红肿热痛，多在夜间发生，与血尿酸升高有关。急性期可用秋水仙碱。",
    "偏头痛": "偏头痛为反复发作的单侧搏动性头痛，常伴恶心、呕吐、畏光和畏声。发作期可用布洛芬止痛。",
    "肺炎": "社区获得性肺炎表现为发热、咳嗽、咳脓痰和胸痛，胸片可见肺部浸润影。细菌性肺炎需用抗生素治疗。",
    "贫血": "缺铁性贫血患者面色苍白、乏力、心慌，可出现指甲变脆和异食癖。治疗需补充铁剂。",
    "甲亢": "甲亢患者怕热多汗、心慌、手抖、易饥饿但体重减轻，部分出现突眼。常用甲巯咪唑治疗。",
    "甲减": "甲减患者怕冷、乏力、嗜睡、便秘、体重增加，面部和下肢可有黏液性水肿。需长期服用左甲状腺素。",
    "阑尾炎": "急性阑尾炎典型表现为转移性右下腹痛，起初在脐周，数小时后转移至右下腹，麦氏点压痛。多需手术切除。",
    "胆囊结石": "胆囊结石可引起右上腹绞痛，常在进食油腻食物后发作，疼痛可放射至右肩背部。反复发作者行胆囊切除。",
    "肾结石": "肾结石发作时出现腰部剧烈绞痛，向下腹和会阴放射，常伴血尿。多饮水有助于小结石排出。",
    "类风湿关节炎": "类风湿关节炎以双手小关节对称性肿痛和晨僵超过一小时为特点，可致关节畸形。常用甲氨蝶呤治疗。",
    "带状疱疹": "带状疱疹沿单侧神经分布出现成簇水疱，伴明显神经痛，由水痘带状疱疹病毒引起。早期可用阿昔洛韦。",
    "湿疹": "湿疹表现为皮肤瘙痒、红斑、丘疹和渗出，易反复发作。可外用糖皮质激素软膏并保湿。",
    "结膜炎": "细菌性结膜炎表现为眼红、眼部分泌物增多、晨起睫毛粘连。可使用抗生素滴眼液。",
    "中耳炎": "急性中耳炎多见于儿童，表现为耳痛、发热和听力下降，鼓膜充血。常用阿莫西林治疗。",
    "帕金森病": "帕金森病表现为静止性震颤、动作迟缓、肌强直和姿势不稳。常用左旋多巴改善症状。",
    "阿尔茨海默病": "阿尔茨海默病以进行性记忆力减退为首发表现，逐渐出现定向力障碍和人格改变。可用多奈哌齐延缓进展。",
    "抑郁症": "抑郁症核心症状为持续情绪低落、兴趣减退和精力下降，可伴失眠和自杀念头。可用舍曲林等药物治疗。",
    "肺结核": "肺结核常见咳嗽咳痰超过两周、午后低热、盗汗、消瘦，部分咯血。需规范联合抗结核治疗六个月以上。",
    "乙型肝炎": "慢性乙型肝炎可有乏力、食欲减退、肝区不适，部分出现黄疸。可用恩替卡韦抗病毒治疗。",
    "冠心病": "冠心病心绞痛表现为劳累后胸骨后压榨性疼痛，持续数分钟，休息或含服硝酸甘油可缓解。",
    "脑卒中": "脑卒中起病急，出现一侧肢体无力或麻木、口角歪斜、言语不清。发病后应尽快送医。",
}

# A patient's wording of one disease's symptoms -> the disease whose document must come first.
QUERIES = {
    "手抖、怕热、多汗，吃得多却消瘦，是什么病？": "甲亢",
    "肚脐周围疼痛后转移到右下腹痛": "阑尾炎",
    "早上起来双手小关节肿痛，晨僵很久": "类风湿关节炎",
    "咳嗽两周多，午后低热还盗汗": "肺结核",
    "手静止时震颤，动作迟缓": "帕金森病",
    "吃了油腻食物后右上腹绞痛": "胆囊结石",
    "夜间反复喘息、胸闷": "哮喘",
    "眼红，早上睫毛粘连": "结膜炎",
}


def write_corpus(tmp_path: Path) -> list[Path]:
    """The corpus in both accepted layouts: a .txt with one document per line and a .jsonl with a `text` field."""
    texts = list(DOCS.values())
    txt = tmp_path / "corpus" / "diseases.txt"
    txt.parent.mkdir(exist_ok=True)
    txt.write_text("\n".join(texts[:12]) + "\n", encoding="utf-8")
    jsonl = tmp_path / "corpus" / "diseases.jsonl"
    jsonl.write_text("".join(json.dumps({"text": t}, ensure_ascii=False) + "\n" for t in texts[12:]), encoding="utf-8")
    return [txt, jsonl]


def disease_of(passage: Passage) -> str:
    return next(name for name, text in DOCS.items() if passage.text in text)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return write_corpus(tmp_path_factory.mktemp("rag"))


@pytest.fixture(scope="module")
def bm25_dir(corpus: list[Path]) -> Path:
    return build_index(corpus, corpus[0].parent.parent / "bm25-index")


# --- passages ----------------------------------------------------------------------------------------


def test_passages_keep_whole_sentences_within_the_limit() -> None:
    text = "高血压是常见病。患者常见头晕！是否需要服药？每日两次；复查血压。" * 3
    passages = split_passages(text, 20)
    assert all(0 < len(p) <= 20 for p in passages)
    assert "".join(passages) == text  # nothing lost, nothing added
    # Every passage ends at a sentence end, since every sentence here fits in 20 characters.
    assert all(p[-1] in "。！？；" for p in passages)
    # Greedy packing: a passage and the next one's first sentence would not fit together.
    assert split_passages("一二三。四五六。七八九。", 8) == ["一二三。四五六。", "七八九。"]


def test_a_sentence_longer_than_the_limit_is_cut_every_limit_characters() -> None:
    long = "甲" * 25 + "。"
    assert split_passages(f"短句。{long}尾。", 10) == ["短句。", "甲" * 10, "甲" * 10, "甲" * 5 + "。尾。"]


def test_blank_and_punctuation_only_pieces_are_dropped() -> None:
    assert split_passages("\n\n  第一行\n\n……。\n  第二行  \n", 200) == ["第一行……。第二行"]
    assert split_passages("……。——", 2) == []


def test_duplicate_passages_are_kept_once(tmp_path: Path) -> None:
    a = tmp_path / "a.txt"
    a.write_text("感冒多为病毒感染。\n痛风与尿酸有关。\n感冒多为病毒感染。\n", encoding="utf-8")
    b = tmp_path / "b.jsonl"
    b.write_text(json.dumps({"text": "痛风与尿酸有关。"}, ensure_ascii=False) + "\n", encoding="utf-8")
    passages, documents, duplicates = read_passages([a, b], 200)
    assert passages == [
        {"text": "感冒多为病毒感染。", "source": str(a), "doc": 1},
        {"text": "痛风与尿酸有关。", "source": str(a), "doc": 2},
    ]
    assert documents == {str(a): 3, str(b): 1}
    assert duplicates == 2


# --- BM25 --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("query", "disease"), QUERIES.items())
def test_bm25_ranks_the_disease_with_those_symptoms_first(bm25_dir: Path, query: str, disease: str) -> None:
    hits = load_index(bm25_dir).search(query, k=3)
    assert disease_of(hits[0]) == disease
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    assert len(hits) == 1 or hits[0].score > hits[1].score


def test_bm25_hits_name_their_source_and_k_is_a_maximum(bm25_dir: Path, corpus: list[Path]) -> None:
    retriever = load_index(bm25_dir)
    hit = retriever.search("转移性右下腹痛", k=1)
    assert len(hit) == 1
    assert hit[0].source == str(corpus[0])
    assert hit[0].doc == list(DOCS).index("阑尾炎") + 1
    assert len(retriever.search("治疗", k=5)) == 5
    assert 0 < len(retriever.search("治疗", k=1000)) <= len(retriever.passages)
    # Passages sharing no word with the query are no reference for it.
    assert retriever.search("量子计算机", k=3) == []
    assert retriever.search("   ", k=3) == []
    with pytest.raises(ValueError, match="k must be at least 1"):
        retriever.search("头痛", k=0)


def test_index_round_trip_is_reproducible_and_pickle_free(bm25_dir: Path, corpus: list[Path], tmp_path: Path) -> None:
    info = json.loads((bm25_dir / "index.json").read_text(encoding="utf-8"))
    assert info["kind"] == "bm25"
    assert info["passages"] == len(DOCS)
    assert [c["documents"] for c in info["corpus"]] == [12, len(DOCS) - 12]
    assert all(len(c["sha256"]) == 64 for c in info["corpus"])

    files = sorted(p for p in bm25_dir.rglob("*") if p.is_file())
    for f in files:
        assert f.suffix not in (".pkl", ".pickle")
        assert not f.read_bytes().startswith(b"\x80")  # pickle protocol 2+ opcode
    for f in bm25_dir.rglob("*.npy"):
        np.load(f, allow_pickle=False)

    rebuilt = build_index(corpus, tmp_path / "again")
    for f in files:
        assert (rebuilt / f.relative_to(bm25_dir)).read_bytes() == f.read_bytes(), f.name
    first, second = load_index(bm25_dir), load_index(rebuilt)
    for query in QUERIES:
        assert first.search(query, k=5) == second.search(query, k=5)
    assert not (tmp_path / "again.tmp").exists()


def test_index_files_do_not_depend_on_the_hash_seed(bm25_dir: Path, corpus: list[Path], tmp_path: Path) -> None:
    # bm25s numbers a token list's vocabulary in set order, which follows PYTHONHASHSEED; we pass our own numbering.
    out = tmp_path / "seeded"
    code = f"from qilin.rag.index import build_index; build_index({[str(p) for p in corpus]!r}, {str(out)!r})"
    subprocess.run([sys.executable, "-c", code], check=True, env={**os.environ, "PYTHONHASHSEED": "12345"})
    for f in (bm25_dir / "bm25").iterdir():
        assert (out / "bm25" / f.name).read_bytes() == f.read_bytes(), f.name


def test_rebuild_replaces_an_index_but_not_another_directory(corpus: list[Path], tmp_path: Path) -> None:
    out = build_index(corpus[:1], tmp_path / "index")
    build_index(corpus[1:], out)
    assert {json.loads(line)["source"] for line in (out / "passages.jsonl").open(encoding="utf-8")} == {str(corpus[1])}
    precious = tmp_path / "notes"
    precious.mkdir()
    (precious / "keep.txt").write_text("x")
    with pytest.raises(DataError, match=r"notes: exists and is not a Qilin RAG index"):
        build_index(corpus, precious)
    assert (precious / "keep.txt").read_text() == "x"


# --- dense -------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def encoder_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 1-layer BERT with random weights and a character vocabulary of the corpus."""
    import torch
    from transformers import BertConfig, BertModel, BertTokenizerFast

    out = tmp_path_factory.mktemp("encoder")
    chars = sorted({c for text in DOCS.values() for c in text})
    (out / "vocab.txt").write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *chars]) + "\n")
    tokenizer = BertTokenizerFast(vocab=str(out / "vocab.txt"))
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=len(chars) + 5, hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64
    )
    BertModel(config).save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def test_dense_index_finds_a_passage_by_its_own_text(corpus: list[Path], encoder_dir: Path, tmp_path: Path) -> None:
    out = build_index(corpus, tmp_path / "dense", kind="dense", embedding_model=encoder_dir)
    assert not list(out.rglob("*.pkl"))
    retriever = load_index(out)
    assert retriever.info["settings"]["dim"] == 32
    for text in [DOCS["哮喘"], DOCS["痛风"], DOCS["脑卒中"]]:
        hits = retriever.search(text, k=4)
        assert hits[0].text == text
        assert hits[0].score == pytest.approx(1.0, abs=1e-4)
        assert len(hits) == 4
        assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
        assert all(-1.0 - 1e-5 <= h.score <= 1.0 + 1e-5 for h in hits)


# --- errors ------------------------------------------------------------------------------------------


def test_errors_name_the_file_and_what_was_expected(corpus: list[Path], tmp_path: Path) -> None:
    missing = tmp_path / "missing.txt"
    with pytest.raises(DataError, match=r"missing\.txt: file not found"):
        build_index([missing], tmp_path / "index")
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    with pytest.raises(DataError, match=r"empty\.txt: file is empty"):
        build_index([empty], tmp_path / "index")
    dashes = tmp_path / "dashes.txt"
    dashes.write_text("……\n——\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"dashes\.txt: the corpus holds no passage"):
        build_index([dashes], tmp_path / "index")
    with pytest.raises(ValueError, match=r"no corpus files given for the index .*/index$"):
        build_index([], tmp_path / "index")
    with pytest.raises(ValueError, match=r"unknown index kind 'tfidf' for .*/index; expected one of: bm25, dense"):
        build_index(corpus, tmp_path / "index", kind="tfidf")
    with pytest.raises(ValueError, match=r"the dense index .*/index needs embedding_model"):
        build_index(corpus, tmp_path / "index", kind="dense")
    with pytest.raises(DataError, match="no-model: not a local Hugging Face model directory"):
        build_index(corpus, tmp_path / "index", kind="dense", embedding_model=tmp_path / "no-model")
    with pytest.raises(DataError, match=r"/corpus: not a Qilin RAG index: no index\.json"):
        load_index(corpus[0].parent)
    assert not (tmp_path / "index").exists()
    assert not (tmp_path / "index.tmp").exists()


# --- prompt ------------------------------------------------------------------------------------------


def test_rag_prompt_numbers_the_passages_before_the_question() -> None:
    passages = [Passage("痛风与尿酸有关。", 3.2, "a.txt", 1), Passage("急性期可用秋水仙碱。", 1.5, "a.txt", 2)]
    assert rag_prompt("痛风怎么治？", passages) == (
        "参考资料：\n[1] 痛风与尿酸有关。\n[2] 急性期可用秋水仙碱。\n\n问题：痛风怎么治？"
    )
    assert rag_prompt("痛风怎么治？", []) == "痛风怎么治？"


def test_exam_questions_get_their_disease_passages_and_eval_mcq_takes_rag(
    tiny_model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    from qilin.cli import main
    from qilin.eval.multiple_choice import read_cmexam, with_retrieved_passages
    from tests.conftest import corpus_lines

    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(corpus_lines()), encoding="utf-8")
    assert main(["rag", "index", str(corpus), "--out", str(tmp_path / "index")]) == 0
    exam = tmp_path / "exam.csv"
    rows = [
        ("痛风患者应到哪个科室就诊？", "A 心内科\nB 风湿免疫科\nC 眼科\nD 口腔科\nE 皮肤科", "B"),
        ("哮喘患者应到哪个科室就诊？", "A 呼吸内科\nB 眼科\nC 口腔科\nD 皮肤科\nE 骨科", "A"),
    ]
    exam.write_text("Question,Options,Answer\n" + "".join(f'{q},"{o}",{a}\n' for q, o, a in rows), encoding="utf-8")
    questions = read_cmexam(exam)
    augmented = with_retrieved_passages(questions, load_index(tmp_path / "index"), k=1)
    assert augmented[0].question == (  # rag_prompt's format: the one retrieval-aware SFT trains and serving uses
        "参考资料：\n[1] 痛风患者常见关节红肿，应到风湿免疫科就诊，常用秋水仙碱治疗。\n\n"
        "问题：痛风患者应到哪个科室就诊？"
    )
    assert (
        augmented[1].question.startswith("参考资料：\n[1] 哮喘患者常见喘息")
        and augmented[1].options == questions[1].options
    )
    result = tmp_path / "rag.json"
    args = ["eval", "mcq", str(tiny_model_dir), "--data", str(exam), "--rag", str(tmp_path / "index")]
    assert main([*args, "--rag-top-k", "1", "--json", str(result)]) == 0
    assert json.loads(result.read_text())["acc"]["all"]["n"] == 2


def test_rag_recall_compares_bm25_and_dense_on_an_exam(
    corpus: list[Path], encoder_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    from qilin.cli import main

    exam = tmp_path / "exam.csv"
    rows = [
        ("痛风急性期可用哪种药？", "A 秋水仙碱\nB 阿昔洛韦\nC 布洛芬", "A"),
        ("甲减需长期服用？", "A 铁剂\nB 左甲状腺素", "B"),
    ]
    exam.write_text("Question,Options,Answer\n" + "".join(f'{q},"{o}",{a}\n' for q, o, a in rows), encoding="utf-8")
    build_index(corpus, tmp_path / "bm25")
    build_index(corpus, tmp_path / "dense", kind="dense", embedding_model=encoder_dir)
    assert (
        main(["rag", "recall", str(tmp_path / "bm25"), str(tmp_path / "dense"), "--data", str(exam), "--k", "2"]) == 0
    )
    out = capsys.readouterr().out.splitlines()
    assert out[:2] == [
        f"{tmp_path / 'bm25'} (bm25): recall@1 100.0% of 2 questions",
        f"{tmp_path / 'bm25'} (bm25): recall@2 100.0% of 2 questions",
    ]
    assert out[2].startswith(f"{tmp_path / 'dense'} (dense): recall@1 ") and len(out) == 4
