"""Images for the VL model: PNG/JPEG through PIL, DICOM through pydicom, always returned as 8-bit RGB.

load_image("scan1.png")          # anything PIL opens
load_image("CT_0001.dcm")        # DICOM: modality rescale, then the file's window (or the 0.5-99.5th percentiles)
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

# The DICOM Part 10 preamble is 128 bytes, then the magic; files without a .dcm suffix are still found.
DICOM_MAGIC_OFFSET = 128
# Percentiles rather than min/max when a file carries no window: a few hot pixels (metal, text burnt into the image)
# would otherwise squash the anatomy into a handful of grey levels.
PERCENTILE_WINDOW = (0.5, 99.5)


class ImageError(ValueError):
    """An image that cannot be read; the message names the file and the problem."""

    def __init__(self, path: str | Path, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = Path(path)
        self.problem = problem


def window_to_uint8(pixels: np.ndarray, center: float, width: float) -> np.ndarray:
    """Linear window: values <= center - width/2 become 0, >= center + width/2 become 255, linear between."""
    if not width > 0:
        raise ValueError(f"window width must be positive, got {width}")
    low = center - width / 2
    scaled = (np.asarray(pixels, dtype=np.float64) - low) / width * 255.0
    return np.clip(np.round(scaled), 0, 255).astype(np.uint8)


def load_image(path: str | Path) -> Image.Image:
    """An RGB image from a PNG/JPEG/... or DICOM file; ImageError (naming the file) when it cannot be read."""
    path = Path(path)
    if not path.is_file():
        raise ImageError(path, "no such file")
    return decode_image(path.read_bytes(), path, dicom=path.suffix.lower() == ".dcm")


def image_data_url(image: Image.Image) -> str:
    """The image as a base64 PNG `data:` URL, the form OpenAI's chat API takes (`image_url` parts); PNG is lossless,
    so a server decodes the very pixels `load_image` gave (a DICOM arrives windowed, as Qilin reads it)."""
    import base64

    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def decode_image(data: bytes, name: str | Path, dicom: bool = False, max_pixels: int | None = None) -> Image.Image:
    """An RGB image from the bytes of a PNG/JPEG/... or DICOM file (found by its magic when `dicom` is not set).

    `name` is what errors call it (a file, a request); `max_pixels` refuses larger images before decoding them.
    """
    try:
        if dicom or data[DICOM_MAGIC_OFFSET : DICOM_MAGIC_OFFSET + 4] == b"DICM":
            return _load_dicom(io.BytesIO(data), name, max_pixels)
        with Image.open(io.BytesIO(data)) as image:
            _check_size(image.width * image.height, name, max_pixels)
            image.load()  # PIL decodes lazily; a truncated file would otherwise fail later, far from here
            if image.mode in ("I", "I;16", "I;16B", "I;16L", "F"):
                # 16-bit / float PNG or TIFF scans: a plain convert("RGB") clips everything above 255 to white.
                pixels = np.asarray(image, dtype=np.float64)
                return Image.fromarray(_percentile_window(pixels)).convert("RGB")
            return image.convert("RGB")
    except ImageError:
        raise
    except Exception as e:  # PIL and pydicom raise OSError, SyntaxError, ValueError, struct.error... on corrupt data
        raise ImageError(name, f"not a readable image ({type(e).__name__}: {e})") from None


def _check_size(pixels: int, name: str | Path, max_pixels: int | None) -> None:
    if max_pixels is not None and pixels > max_pixels:
        raise ImageError(name, f"image of {pixels} pixels, more than the limit of {max_pixels}")


def _load_dicom(source: io.BytesIO, name: str | Path, max_pixels: int | None) -> Image.Image:
    import pydicom
    from pydicom.pixels import apply_color_lut, apply_modality_lut

    ds = pydicom.dcmread(source)
    if "PixelData" not in ds and "FloatPixelData" not in ds and "DoubleFloatPixelData" not in ds:
        raise ImageError(name, "DICOM file without pixel data (a report or structure set?)")
    _check_size(int(ds.get("Rows", 0) or 0) * int(ds.get("Columns", 0) or 0), name, max_pixels)
    if int(ds.get("NumberOfFrames", 1) or 1) > 1:
        ds.pixel_array_options(index=0)  # decode only the first frame, not a whole cine loop
    pixels = ds.pixel_array
    photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2")).upper()
    if photometric == "PALETTE COLOR":
        pixels = apply_color_lut(pixels, ds)
    if pixels.ndim == 3:  # colour (ultrasound, secondary capture); pydicom has already converted YBR to RGB
        rgb = pixels if pixels.dtype == np.uint8 else _percentile_window(pixels.astype(np.float64))
        return Image.fromarray(rgb)
    values = apply_modality_lut(pixels, ds).astype(np.float64)  # stored values -> HU (CT) or other real units
    center, width = _first(ds.get("WindowCenter")), _first(ds.get("WindowWidth"))
    if center is not None and width is not None and width > 0:
        gray = window_to_uint8(values, center, width)
    else:
        gray = _percentile_window(values)
    if photometric == "MONOCHROME1":  # MONOCHROME1 stores low values as white
        gray = 255 - gray
    return Image.fromarray(gray).convert("RGB")


def _first(value: object) -> float | None:
    """The first of a multi-valued DICOM element (WindowCenter may hold several windows), as a float."""
    if value is None or value == "":
        return None
    if isinstance(value, Sequence) and not isinstance(value, str):  # pydicom's MultiValue is a Sequence
        if not value:
            return None
        value = value[0]
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _percentile_window(values: np.ndarray) -> np.ndarray:
    low, high = np.percentile(values, PERCENTILE_WINDOW)
    if high <= low:  # a constant image: any positive width maps it to one grey level
        return window_to_uint8(values, low, 1.0)
    return window_to_uint8(values, (low + high) / 2, high - low)
