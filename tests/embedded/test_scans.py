"""The synthetic scans show what their captions and questions say, deterministically, and export to DICOM."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest
from PIL import Image

from qilin.data.vision.images import load_image
from qilin.embedded.scans import (
    LETTERS,
    MODALITIES,
    MODALITY_NAMES,
    ScanSpec,
    caption,
    generate_scan_set,
    render_scan,
    vqa_items,
    write_dicom,
)


def test_write_dicom_round_trips_through_load_image(tmp_path: Path) -> None:
    pixels = render_scan(ScanSpec("ct", True, "右", "上", "大"), np.random.default_rng(0))
    path = tmp_path / "scan.dcm"
    write_dicom(pixels, path)
    ds = pydicom.dcmread(path)
    assert ds.Modality and ds.file_meta.TransferSyntaxUID == pydicom.uid.ExplicitVRLittleEndian
    assert (ds.Rows, ds.Columns, ds.BitsAllocated, ds.PhotometricInterpretation) == (64, 64, 16, "MONOCHROME2")
    assert np.array_equal(ds.pixel_array, pixels)
    gray = np.asarray(load_image(path))[..., 0].astype(np.float64)
    assert np.corrcoef(gray.ravel(), pixels.ravel())[0, 1] > 0.99
    again = tmp_path / "again.dcm"
    write_dicom(pixels, again)
    assert again.read_bytes() == path.read_bytes()  # no random UIDs or timestamps
    with pytest.raises(ValueError, match="2-D"):
        write_dicom(np.zeros((4, 4, 3), dtype=np.uint8), path)


def test_scan_sets_are_deterministic_by_seed(tmp_path: Path) -> None:
    first = generate_scan_set(12, seed=3, out_dir=tmp_path / "a", size=32)
    second = generate_scan_set(12, seed=3, out_dir=tmp_path / "b", size=32)
    other = generate_scan_set(12, seed=4, out_dir=tmp_path / "c", size=32)
    assert first == second and first != other
    for record in first:
        assert (tmp_path / "a" / record["image"]).read_bytes() == (tmp_path / "b" / record["image"]).read_bytes()
    assert (tmp_path / "a" / "images/scan_00000.png").read_bytes() != (
        tmp_path / "c" / "images/scan_00000.png"
    ).read_bytes()
    with Image.open(tmp_path / "a" / first[0]["image"]) as image:
        assert image.mode == "L" and image.size == (32, 32)


def test_scan_sets_are_balanced_with_about_60_percent_lesions(tmp_path: Path) -> None:
    records = generate_scan_set(200, seed=0, out_dir=tmp_path, size=16)
    counts = [sum(r["modality"] == m for r in records) for m in MODALITIES]
    assert counts == [50, 50, 50, 50]
    assert 0.5 < np.mean([r["lesion"] for r in records]) < 0.7
    assert all((r["side"] is None) == (not r["lesion"]) for r in records)


def _lesion_centre(spec: ScanSpec, seed: int, size: int = 64) -> tuple[float, float, np.ndarray, np.ndarray]:
    """(y, x) centroid of where `spec` differs from the same render without lesion, and both images."""
    with_lesion = render_scan(spec, np.random.default_rng(seed), size).astype(np.float64)
    without = render_scan(ScanSpec(spec.modality, False), np.random.default_rng(seed), size).astype(np.float64)
    diff = np.abs(with_lesion - without)
    assert diff.sum() > 0
    ys, xs = np.indices(diff.shape)
    return (ys * diff).sum() / diff.sum(), (xs * diff).sum() / diff.sum(), with_lesion, without


@pytest.mark.parametrize("modality", ["xray", "ct"])
def test_a_large_lesion_is_clearly_brighter_than_the_same_place_without_it(modality: str) -> None:
    for seed in range(5):
        spec = ScanSpec(modality, True, "右", "下", "大")
        cy, cx, with_lesion, without = _lesion_centre(spec, seed)
        region = (slice(round(cy) - 3, round(cy) + 4), slice(round(cx) - 3, round(cx) + 4))
        assert with_lesion[region].mean() > without[region].mean() + 60


def test_only_the_lesion_differs_between_otherwise_identical_renders() -> None:
    cy, cx, with_lesion, without = _lesion_centre(ScanSpec("mri", True, "左", "上", "小"), seed=7)
    far = np.hypot(*(np.indices(with_lesion.shape) - np.array([cy, cx])[:, None, None])) > 12
    assert np.array_equal(with_lesion[far], without[far])


@pytest.mark.parametrize("modality", MODALITIES)
def test_patient_left_is_image_right_and_upper_is_upper(modality: str) -> None:
    for seed, size in [(0, 64), (1, 64), (2, 48)]:
        for side, lobe in [("左", "上"), ("左", "下"), ("右", "上"), ("右", "下")]:
            cy, cx, _, _ = _lesion_centre(ScanSpec(modality, True, side, lobe, "小"), seed, size)
            assert (cx > size / 2) == (side == "左"), (side, cx)
            assert (cy < size / 2) == (lobe == "上"), (lobe, cy)


def test_large_lesions_are_larger() -> None:
    def area(size_word: str) -> int:
        spec = ScanSpec("ct", True, "左", "上", size_word)
        with_lesion = render_scan(spec, np.random.default_rng(0))
        without = render_scan(ScanSpec("ct", False), np.random.default_rng(0))
        return int((np.abs(with_lesion.astype(int) - without) > 40).sum())

    assert area("大") > 3 * area("小") > 0


def test_captions_and_answers_follow_the_spec(tmp_path: Path) -> None:
    records = generate_scan_set(40, seed=1, out_dir=tmp_path, size=16)
    assert len({r["caption"] for r in records}) > 8  # phrasings vary
    for r in records:
        spec = ScanSpec(r["modality"], r["lesion"], r["side"], r["lobe"], r["size"])
        assert r["caption"].startswith(MODALITY_NAMES[spec.modality] + "：")
        answers = {item["type"]: item["choices"][item["answer"]] for item in r["vqa"]}
        assert answers["modality"] == MODALITY_NAMES[spec.modality]
        if spec.lesion:
            assert f"{spec.side}" in r["caption"] and spec.size in r["caption"]
            assert answers["lesion"] == "可见病灶"
            assert spec.side in answers["side"] and spec.size in answers["size"] and spec.lobe in answers["lobe"]
        else:
            assert "未见" in r["caption"] and answers == {"modality": answers["modality"], "lesion": "未见病灶"}


def test_vqa_items_have_four_distinct_choices_and_a_valid_answer() -> None:
    rng = np.random.default_rng(0)
    letters_used = set()
    for spec in [ScanSpec("ultrasound", True, "右", "下", "小"), ScanSpec("xray", False)]:
        for _ in range(20):
            items = vqa_items(spec, rng)
            assert [i["type"] for i in items] == (
                ["modality", "lesion", "side", "size", "lobe"] if spec.lesion else ["modality", "lesion"]
            )
            for item in items:
                assert tuple(item["choices"]) == LETTERS and len(set(item["choices"].values())) == 4
                assert item["answer"] in LETTERS and item["question"].endswith("？")
                letters_used.add(item["answer"])
    assert letters_used == set(LETTERS)  # the correct choice is shuffled, not always in one place


def test_caption_examples_and_bad_specs() -> None:
    assert caption(ScanSpec("xray", True, "右", "上", "大")) == "胸部X线片：右肺上野见一较大高密度结节影。"
    assert caption(ScanSpec("ct", False)) == "胸部CT：双肺未见明确病灶。"
    with pytest.raises(ValueError, match="modality"):
        ScanSpec("pet", False)
    with pytest.raises(ValueError, match="side"):
        ScanSpec("ct", True, "中", "上", "大")
    with pytest.raises(ValueError, match="no side"):
        ScanSpec("ct", False, "左", None, None)
