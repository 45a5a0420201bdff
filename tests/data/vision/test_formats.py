"""VL formats: captions, vl conversations and PMC-VQA CSVs read; a bad image stops naming its record, or is skipped."""

from __future__ import annotations

from pathlib import Path

import pytest

from qilin.data.records import DataError
from qilin.data.vision.formats import read_pmcvqa, read_vl_file
from tests.conftest import write_jsonl
from tests.vl_files import Scans, caption_file, scan_set, vqa_file


@pytest.fixture(scope="module")
def scans(tmp_path_factory: pytest.TempPathFactory) -> Scans:
    return scan_set(tmp_path_factory.mktemp("scans"), 16, seed=5)


def test_vl_formats_read_and_bad_images_are_named(scans, tmp_path: Path) -> None:
    out, records = scans
    assert len(read_vl_file(caption_file(scans))) == 16
    conv = read_vl_file(vqa_file(scans))[0]
    assert conv.messages[0]["content"].startswith("<image>") and conv.image == out / records[0]["image"]
    csv_path = tmp_path / "pmc.csv"
    csv_path.write_text(
        "Figure_path,Question,Anwser,Choice A,Choice B,Choice C,Choice D,Answer_label\n"
        f"{out / records[0]['image']},What is shown?,CT,A:CT ,B:MRI,C:X-ray,D:US,A\n",
        encoding="utf-8",
    )
    (q,) = read_pmcvqa(csv_path, tmp_path)
    assert q.choices == {"A": "CT", "B": "MRI", "C": "X-ray", "D": "US"} and q.answer == "A"
    missing = write_jsonl(tmp_path / "bad.jsonl", [{"image": "nope.png", "caption": "一张图。"}])
    from qilin.data.vision.formats import check_images

    with pytest.raises(DataError, match=r"bad\.jsonl:line 1: field 'image': .*nope\.png"):
        check_images(read_vl_file(missing), missing, skip_bad=False)
    good, bad = check_images(read_vl_file(missing), missing, skip_bad=True)
    assert (good, bad) == ([], 1)
