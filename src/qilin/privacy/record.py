"""De-identify one record made of several texts (the fields of a JSON record, the cells of a CSV row).

    texts, spans = deid_texts(["患者王小明头痛", "王小明服药后好转"])   # ["患者[姓名1]头痛", "[姓名1]服药后好转"]

Names found in one field are looked for in every field of the record (a name announced by 患者 in the prompt
is masked where the answer repeats it bare), and the whole record shares one RecordMasker.
"""

from __future__ import annotations

import re

from qilin.privacy.detect import detect_phi
from qilin.privacy.replace import RecordMasker
from qilin.privacy.spans import Span

_CJK = re.compile(r"[\u4e00-\u9fff]")


def find_record_phi(texts: list[str]) -> list[list[Span]]:
    """PHI spans of each text of one record, names shared across its texts."""
    first = [detect_phi(t) for t in texts]
    names = tuple(sorted({s.value for spans in first for s in spans if s.type == "name"}))
    return [detect_phi(t, names) for t in texts] if names else first


def deid_texts(texts: list[str], surrogates: bool = False, seed: str = "") -> tuple[list[str], list[list[Span]]]:
    """The texts of one record with PHI replaced, and the spans found in each."""
    spans = find_record_phi(texts)
    chinese = any(_CJK.search(t) for t in texts)
    masker = RecordMasker(chinese=chinese, surrogates=surrogates, seed=seed or "\n".join(texts))
    return [masker.apply(t, s) for t, s in zip(texts, spans, strict=True)], spans
