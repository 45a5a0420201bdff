"""`qilin chat` with a VL model: a DICOM file flows through to a reply; a VL model without an image is refused."""

from __future__ import annotations

from pathlib import Path

from qilin.config import ModelSettings, VisionSettings


def test_dicom_flows_through_chat(tiny_model_dir: Path, vision_dir: Path, tmp_path: Path, capsys) -> None:
    from pydicom.data import get_testdata_file

    from qilin.cli import main
    from qilin.models.loading import save_pretrained_atomic
    from qilin.models.vision import prepare_vl_model

    model, tokenizer, processor = prepare_vl_model(
        tiny_model_dir, vision_dir, VisionSettings(feature_layer=-1), ModelSettings()
    )
    save_pretrained_atomic(model, tokenizer, tmp_path / "vl", processor)
    dicom = get_testdata_file("CT_small.dcm")
    assert (
        main(["chat", str(tmp_path / "vl"), "--image", dicom, "--prompt", "这是什么检查？", "--max-new-tokens", "8"])
        == 0
    )
    capsys.readouterr()
    assert main(["chat", str(tmp_path / "vl"), "--prompt", "x"]) == 2  # a VL model needs an image
