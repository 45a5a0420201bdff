"""Images load as RGB from PNG and DICOM (windowed, first frame, MONOCHROME1 inverted); bad files are named."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest
from PIL import Image
from pydicom.data import get_testdata_file

from qilin.data.vision.images import ImageError, load_image, window_to_uint8


def test_window_maps_edges_to_0_and_255_and_is_linear_between() -> None:
    pixels = np.array([-1000, 0, 10, 40, 50, 60, 90, 100, 3000])
    # center 50, width 80: 10 -> 0, 90 -> 255, 50 -> 127.5 (rounds to 128), 30 px = 3/8 of the width -> 95.6
    assert window_to_uint8(pixels, 50, 80).tolist() == [0, 0, 0, 96, 128, 159, 255, 255, 255]
    assert window_to_uint8(np.array([[0.0, 255.0]]), 127.5, 255).tolist() == [[0, 255]]
    with pytest.raises(ValueError, match="width"):
        window_to_uint8(pixels, 50, 0)


def test_png_loads_as_rgb(tmp_path: Path) -> None:
    path = tmp_path / "gray.png"
    Image.fromarray(np.arange(64 * 32, dtype=np.uint16).reshape(32, 64).astype(np.uint8)).save(path)
    image = load_image(path)
    assert image.mode == "RGB" and image.size == (64, 32)
    assert np.array_equal(np.asarray(image)[..., 0], np.asarray(Image.open(path)))


def test_16_bit_png_is_windowed_not_clipped(tmp_path: Path) -> None:
    path = tmp_path / "deep.png"
    Image.fromarray(np.linspace(0, 4000, 32 * 32).reshape(32, 32).astype(np.uint16)).save(path)
    gray = np.asarray(load_image(path))[..., 0]
    assert gray.min() == 0 and gray.max() == 255 and 100 < gray.mean() < 155


@pytest.mark.parametrize(("name", "size"), [("CT_small.dcm", (128, 128)), ("MR_small.dcm", (64, 64))])
def test_pydicom_samples_load_as_rgb(name: str, size: tuple[int, int]) -> None:
    image = load_image(get_testdata_file(name))
    pixels = np.asarray(image)
    assert image.mode == "RGB" and image.size == size
    assert pixels.std() > 20 and int(pixels.max()) - int(pixels.min()) > 150  # windowed across the 8-bit range


def test_dicom_uses_its_first_window_and_inverts_monochrome1(tmp_path: Path) -> None:
    ds = pydicom.dcmread(get_testdata_file("MR_small.dcm"))  # window 600/1600, no rescale
    values = ds.pixel_array.astype(np.float64)
    assert np.array_equal(
        np.asarray(load_image(get_testdata_file("MR_small.dcm")))[..., 0], window_to_uint8(values, 600, 1600)
    )
    ds.WindowCenter, ds.WindowWidth = [300, 900], [400, 2000]  # several windows: the first is the default
    ds.PhotometricInterpretation = "MONOCHROME1"
    path = tmp_path / "no_suffix"  # found by its DICM magic, not its name
    ds.save_as(path)
    assert np.array_equal(np.asarray(load_image(path))[..., 0], 255 - window_to_uint8(values, 300, 400))


def test_multiframe_dicom_gives_its_first_frame() -> None:
    image = load_image(get_testdata_file("rtdose.dcm"))  # 15 frames of 10 x 10
    assert image.mode == "RGB" and image.size == (10, 10)


def test_missing_and_corrupt_files_raise_image_error_naming_the_path(tmp_path: Path) -> None:
    with pytest.raises(ImageError, match=r"nope\.png: no such file"):
        load_image(tmp_path / "nope.png")
    junk = tmp_path / "x.png"
    junk.write_bytes(b"\x89PNG not really an image" * 10)
    with pytest.raises(ImageError, match=r"x\.png: not a readable image"):
        load_image(junk)
    truncated = tmp_path / "cut.dcm"
    truncated.write_bytes(Path(get_testdata_file("MR_small.dcm")).read_bytes()[:2000])
    with pytest.raises(ImageError, match=r"cut\.dcm"):
        load_image(truncated)
    report = get_testdata_file("rtplan.dcm")
    with pytest.raises(ImageError, match="without pixel data"):
        load_image(report)
