"""The serving engine loads no pickles, text model or VL model."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from qilin.serve.engine import ChatEngine


def test_server_refuses_pickled_weights(tiny_model_dir: Path, tmp_path: Path) -> None:
    pickled = tmp_path / "pickled"
    shutil.copytree(tiny_model_dir, pickled)
    for weights in pickled.glob("*.safetensors"):
        weights.unlink()
    (pickled / "pytorch_model.bin").write_bytes(b"\x80\x04not loaded")  # a pickle header, never opened
    with pytest.raises(FileNotFoundError, match=r"no \.safetensors weights; the server loads no pickles"):
        ChatEngine(pickled)


def test_server_refuses_a_vl_model_with_pickled_weights(tiny_vl_dir: Path, tmp_path: Path) -> None:
    pickled = tmp_path / "pickled"
    shutil.copytree(tiny_vl_dir, pickled)
    for weights in pickled.glob("*.safetensors"):
        weights.unlink()
    (pickled / "pytorch_model.bin").write_bytes(b"\x80\x04not loaded")
    with pytest.raises(OSError, match="safetensors"):
        ChatEngine(pickled)
