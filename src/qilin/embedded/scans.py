"""Synthetic medical-looking scans for the VL demo: four modalities, a finding drawn from parameters, and Chinese
captions and multiple-choice questions derived from the same parameters.

    spec = ScanSpec("xray", lesion=True, side="右", lobe="上", size="大")
    pixels = render_scan(spec, np.random.default_rng(0))   # (64, 64) uint8
    caption(spec)                                           # "胸部X线片：右肺上野见一较大高密度结节影。"

Side convention (radiological, as on every PACS screen): the patient faces the viewer, so the patient's LEFT ("左")
is drawn on the image's RIGHT, and "右" on the image's left. The X-ray heart shadow follows it too (image right).
"上"/"下" is the upper/lower half of the organ as drawn (lung, hemisphere, or near/far field of the ultrasound fan).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

MODALITIES = ("xray", "ct", "mri", "ultrasound")
MODALITY_NAMES = {"xray": "胸部X线片", "ct": "胸部CT", "mri": "头颅MRI", "ultrasound": "超声"}
SIDES = ("左", "右")
LOBES = ("上", "下")
SIZES = ("小", "大")
LESION_RATE = 0.6
# Lesion radius as a fraction of the image side: about 3 px (small) and 7 px (large) at 64 px.
LESION_RADIUS = {"小": 3 / 64, "大": 7 / 64}
# Mild sensor noise (grey levels): enough that two renders of one spec never share pixels, small next to a lesion.
NOISE_STD = 4.0
LETTERS = ("A", "B", "C", "D")


@dataclass
class ScanSpec:
    """What a synthetic scan shows: its modality and, when `lesion`, the lesion's side, lobe (上/下) and size."""

    modality: str
    lesion: bool
    side: str | None = None
    lobe: str | None = None
    size: str | None = None

    def __post_init__(self) -> None:
        if self.modality not in MODALITIES:
            raise ValueError(f"modality must be one of {MODALITIES}, got {self.modality!r}")
        finding = (self.side, self.lobe, self.size)
        if not self.lesion:
            if finding != (None, None, None):
                raise ValueError(f"a scan without lesion has no side/lobe/size, got {finding}")
        elif self.side not in SIDES or self.lobe not in LOBES or self.size not in SIZES:
            raise ValueError(f"a lesion needs side in {SIDES}, lobe in {LOBES}, size in {SIZES}, got {finding}")


# --- drawing -------------------------------------------------------------------------------------------------------
# Coordinates are fractions of the image side (y down, x right), so every size draws the same picture.


def _grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    coords = (np.arange(size) + 0.5) / size
    return coords[:, None], coords[None, :]  # (H, 1), (1, W): broadcast to (H, W)


def _ellipse(yy: np.ndarray, xx: np.ndarray, cy: float, cx: float, ry: float, rx: float, edge: float) -> np.ndarray:
    """Soft-edged ellipse mask in [0, 1]; `edge` is the blur width in image fractions (no hard aliased borders)."""
    d = np.sqrt(((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2)
    return 1.0 / (1.0 + np.exp((d - 1.0) * min(ry, rx) / edge))


def _pair(
    yy: np.ndarray, xx: np.ndarray, cy: float, cx: float, dx: float, ry: float, rx: float, edge: float
) -> np.ndarray:
    """Two mirror-image ellipses at cx - dx and cx + dx (lungs, ventricles)."""
    return _ellipse(yy, xx, cy, cx - dx, ry, rx, edge) + _ellipse(yy, xx, cy, cx + dx, ry, rx, edge)


def _paint(image: np.ndarray, mask: np.ndarray, value: float) -> np.ndarray:
    return image * (1.0 - mask) + value * mask


def _lesion_site(spec: ScanSpec, anatomy: dict[str, float]) -> tuple[float, float]:
    """Centre (y, x) of the lesion before jitter; patient's left ("左") is the image's right."""
    right_of_image = spec.side == "左"
    upper = spec.lobe == "上"
    if spec.modality == "ultrasound":
        angle = anatomy["fan_angle"] * 0.55 * (1 if right_of_image else -1)
        depth = anatomy["fan_depth"] * (0.4 if upper else 0.72)
        return anatomy["apex_y"] + depth * np.cos(angle), 0.5 + depth * np.sin(angle)
    cx = anatomy["organ_dx"] * (1 if right_of_image else -1) + anatomy["organ_cx"]
    cy = anatomy["organ_cy"] + anatomy["organ_ry"] * (-0.45 if upper else 0.45)
    return cy, cx


def _xray(yy: np.ndarray, xx: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, dict[str, float]]:
    shift, gain = rng.uniform(-0.02, 0.02, 2), rng.uniform(0.9, 1.1)
    cx, cy = 0.5 + shift[0], 0.5 + shift[1]
    image = np.full((yy.shape[0], xx.shape[1]), 25.0)
    image = _paint(image, _ellipse(yy, xx, cy + 0.06, cx, 0.5, 0.47, 0.03), 150 * gain)  # torso soft tissue
    lungs = _pair(yy, xx, cy - 0.02, cx, 0.21, 0.31, 0.15, 0.02)
    image = _paint(image, lungs, 40 * gain)
    # Ribs: thin bright arcs curving down and out from the spine, seen through the lung fields.
    ribs = np.clip(np.sin(2 * np.pi * (yy * 7.5 - 8 * (xx - cx) ** 2 - shift[1])), 0, 1) ** 6
    image += 35 * gain * ribs * lungs
    image = _paint(image, _ellipse(yy, xx, cy, cx, 0.45, 0.07, 0.02), 195 * gain)  # mediastinum and spine
    image = _paint(image, _ellipse(yy, xx, cy + 0.15, cx + 0.05, 0.13, 0.13, 0.02), 180 * gain)  # heart, patient's left
    anatomy = {"organ_cx": cx, "organ_dx": 0.21, "organ_cy": cy - 0.02, "organ_ry": 0.31}
    return image, anatomy


def _ct(yy: np.ndarray, xx: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, dict[str, float]]:
    shift, gain = rng.uniform(-0.02, 0.02, 2), rng.uniform(0.9, 1.1)
    cx, cy = 0.5 + shift[0], 0.5 + shift[1]
    image = np.zeros((yy.shape[0], xx.shape[1]))
    image = _paint(image, _ellipse(yy, xx, cy + 0.02, cx, 0.33, 0.45, 0.01), 95 * gain)  # subcutaneous fat
    image = _paint(image, _ellipse(yy, xx, cy + 0.02, cx, 0.3, 0.42, 0.01), 120 * gain)  # body wall and muscle
    lungs = _pair(yy, xx, cy - 0.02, cx, 0.19, 0.21, 0.15, 0.01)
    image = _paint(image, lungs, 15 * gain)
    image = _paint(image, _ellipse(yy, xx, cy - 0.04, cx + 0.03, 0.11, 0.08, 0.01), 135 * gain)  # heart
    image = _paint(image, _ellipse(yy, xx, cy + 0.24, cx, 0.05, 0.05, 0.008), 235 * gain)  # vertebral body
    anatomy = {"organ_cx": cx, "organ_dx": 0.19, "organ_cy": cy - 0.02, "organ_ry": 0.21}
    return image, anatomy


def _mri(yy: np.ndarray, xx: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, dict[str, float]]:
    shift, gain = rng.uniform(-0.02, 0.02, 2), rng.uniform(0.9, 1.1)
    cx, cy = 0.5 + shift[0], 0.5 + shift[1]
    image = np.zeros((yy.shape[0], xx.shape[1]))
    image = _paint(image, _ellipse(yy, xx, cy, cx, 0.45, 0.37, 0.01), 190 * gain)  # scalp and skull marrow ring
    image = _paint(image, _ellipse(yy, xx, cy, cx, 0.41, 0.33, 0.01), 30 * gain)  # cortical bone (no signal)
    brain = _ellipse(yy, xx, cy, cx, 0.385, 0.305, 0.01)
    # Gyri: a gentle grey/white pattern so the brain is not a flat disc.
    phase = rng.uniform(0, 2 * np.pi)
    gyri = np.sin(2 * np.pi * 5 * np.hypot(yy - cy, xx - cx) + 3 * np.arctan2(yy - cy, xx - cx) + phase)
    image = _paint(image, brain, 120 * gain) + 12 * gain * gyri * brain
    image = _paint(
        image, _pair(yy, xx, cy, cx, 0.045, 0.1, 0.03, 0.01), 35 * gain
    )  # lateral ventricles: CSF, dark on T1
    anatomy = {"organ_cx": cx, "organ_dx": 0.16, "organ_cy": cy, "organ_ry": 0.385}
    return image, anatomy


def _ultrasound(yy: np.ndarray, xx: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, dict[str, float]]:
    apex_y, gain = 0.04, rng.uniform(0.9, 1.1)
    fan_angle, fan_depth = rng.uniform(0.55, 0.65), rng.uniform(0.85, 0.92)
    r = np.hypot(yy - apex_y, xx - 0.5)
    theta = np.arctan2(xx - 0.5, yy - apex_y)  # 0 straight down, positive towards the image's right
    fan = (r > 0.08) & (r < fan_depth) & (np.abs(theta) < fan_angle)
    # Speckle: Rayleigh-distributed echo amplitude, smeared sideways (lateral resolution is worse than axial).
    speckle = rng.rayleigh(1.0, size=fan.shape)
    speckle = (speckle + np.roll(speckle, 1, axis=1) + np.roll(speckle, -1, axis=1)) / (3 * np.sqrt(np.pi / 2))
    echo = 115 * gain * (1.0 - 0.45 * r) * speckle  # depth attenuation
    image = np.where(fan, echo, 0.0)
    anatomy = {"apex_y": apex_y, "fan_angle": fan_angle, "fan_depth": fan_depth}
    return image, anatomy


ANATOMY = {"xray": _xray, "ct": _ct, "mri": _mri, "ultrasound": _ultrasound}
LESION_VALUE = {"xray": 230.0, "ct": 165.0, "mri": 215.0}  # bright: dense nodule / hyperintense focus


def render_scan(spec: ScanSpec, rng: np.random.Generator, size: int = 64) -> np.ndarray:
    """A (size, size) uint8 grayscale scan showing `spec`; deterministic given the generator's state."""
    # Three independent streams, so a spec with and without a lesion (same generator state) differ only in the lesion.
    anatomy_rng, lesion_rng, noise_rng = (np.random.default_rng(s) for s in rng.integers(0, 2**63, size=3))
    yy, xx = _grid(size)
    image, anatomy = ANATOMY[spec.modality](yy, xx, anatomy_rng)
    if spec.lesion:
        cy, cx = _lesion_site(spec, anatomy)
        cy, cx = cy + lesion_rng.uniform(-0.03, 0.03), cx + lesion_rng.uniform(-0.03, 0.03)
        radius = LESION_RADIUS[spec.size] * lesion_rng.uniform(0.85, 1.15)
        aspect = lesion_rng.uniform(0.8, 1.25)
        blob = _ellipse(yy, xx, cy, cx, radius * aspect, radius / aspect, 0.25 / size + 0.1 * radius)
        if spec.modality == "ultrasound":
            image = image * (1.0 - 0.8 * blob)  # hypoechoic: the mass returns few echoes
        else:
            image = _paint(image, blob, LESION_VALUE[spec.modality] * lesion_rng.uniform(0.92, 1.08))
    image = image + noise_rng.normal(0.0, NOISE_STD, image.shape)
    return np.clip(np.round(image), 0, 255).astype(np.uint8)


# --- text ----------------------------------------------------------------------------------------------------------

_SIZE_WORDS = {"小": ("较小", "小"), "大": ("较大", "大")}
# Per modality: (phrasings with a lesion, phrasings without); {side} {lobe} {size} come from the spec.
_CAPTIONS = {
    "xray": (
        ("{side}肺{lobe}野见一{size}高密度结节影。", "{side}肺{lobe}野可见{size}高密度结节影，边界尚清。"),
        ("双肺未见明确病灶。", "双肺野清晰，未见异常密度影。"),
    ),
    "ct": (
        ("{side}肺{lobe}叶见一{size}高密度结节。", "{side}肺{lobe}叶可见{size}结节灶，边界清楚。"),
        ("双肺未见明确病灶。", "双肺纹理清晰，未见结节及肿块。"),
    ),
    "mri": (
        ("{side}侧大脑半球{lobe}部见一{size}异常信号灶。", "{side}侧大脑半球{lobe}部可见{size}高信号病灶。"),
        ("脑实质未见明确异常信号。", "双侧大脑半球对称，未见异常信号灶。"),
    ),
    "ultrasound": (
        ("{side}侧{lobe}部见一{size}低回声团块。", "{side}侧{lobe}部探及{size}低回声结节，边界清。"),
        ("扫查区域未见明确占位性病变。", "实质回声均匀，未见异常团块。"),
    ),
}


def caption(spec: ScanSpec, rng: np.random.Generator | None = None) -> str:
    """A Chinese report line for `spec`; `rng` picks among equivalent phrasings (the first one without it)."""
    with_lesion, without = _CAPTIONS[spec.modality]
    phrasings = with_lesion if spec.lesion else without
    text = _pick(phrasings, rng)
    if spec.lesion:
        text = text.format(side=spec.side, lobe=spec.lobe, size=_pick(_SIZE_WORDS[spec.size], rng))
    return f"{MODALITY_NAMES[spec.modality]}：{text}"


def _pick(options: tuple[str, ...], rng: np.random.Generator | None) -> str:
    return options[int(rng.integers(len(options)))] if rng is not None else options[0]


def _choice_item(kind: str, question: str, options: list[str], correct: str, rng: np.random.Generator) -> dict:
    order = rng.permutation(len(options))
    choices = {letter: options[i] for letter, i in zip(LETTERS, order, strict=True)}
    answer = next(letter for letter, text in choices.items() if text == correct)
    return {"question": question, "choices": choices, "answer": answer, "type": kind}


def vqa_items(spec: ScanSpec, rng: np.random.Generator) -> list[dict]:
    """4-choice questions (modality, lesion, and side/size/lobe when there is a lesion) with shuffled choices."""
    names = [MODALITY_NAMES[m] for m in MODALITIES]
    lesion_options = ["可见病灶", "未见病灶", "图像质量不佳无法判断", "可见骨折"]
    items = [
        _choice_item("modality", "这是哪种影像检查？", names, MODALITY_NAMES[spec.modality], rng),
        _choice_item("lesion", "图中是否可见病灶？", lesion_options, lesion_options[0 if spec.lesion else 1], rng),
    ]
    if spec.lesion:
        items += [
            _choice_item("side", "病灶位于哪一侧？", ["左侧", "右侧", "双侧", "正中"], f"{spec.side}侧", rng),
            _choice_item("size", "病灶大小如何？", ["较小", "较大", "弥漫分布", "无法测量"], f"较{spec.size}", rng),
            _choice_item("lobe", "病灶位于上部还是下部？", ["上部", "下部", "中部", "无法确定"], f"{spec.lobe}部", rng),
        ]
    return items


# --- sets and files ------------------------------------------------------------------------------------------------


def _draw_specs(n: int, rng: np.random.Generator) -> list[ScanSpec]:
    # Balanced modalities: each appears n // 4 or n // 4 + 1 times, in shuffled order.
    modalities = [MODALITIES[i % len(MODALITIES)] for i in rng.permutation(n)]
    specs = []
    for modality in modalities:
        if rng.random() < LESION_RATE:
            side, lobe, size = (str(rng.choice(options)) for options in (SIDES, LOBES, SIZES))
            specs.append(ScanSpec(modality, True, side, lobe, size))
        else:
            specs.append(ScanSpec(modality, False))
    return specs


def generate_scan_set(n: int, seed: int, out_dir: Path, size: int = 64) -> list[dict]:
    """Draw n scans, write `out_dir/images/scan_00000.png`..., and return their records (same seed, same bytes)."""
    rng = np.random.default_rng(seed)
    image_dir = Path(out_dir) / "images"
    image_dir.mkdir(parents=True, exist_ok=True)
    records = []
    for i, spec in enumerate(_draw_specs(n, rng)):
        name = f"images/scan_{i:05d}.png"
        # PIL writes no timestamp or text chunks unless asked, so the bytes depend on the pixels alone.
        Image.fromarray(render_scan(spec, rng, size)).save(Path(out_dir) / name, format="PNG")
        records.append(
            {
                "image": name,
                "modality": spec.modality,
                "lesion": spec.lesion,
                "side": spec.side,
                "lobe": spec.lobe,
                "size": spec.size,
                "caption": caption(spec, rng),
                "vqa": vqa_items(spec, rng),
            }
        )
    return records


def write_dicom(pixels: np.ndarray, path: Path) -> None:
    """Write a 2-D grayscale array as a minimal valid DICOM file (16-bit MONOCHROME2, window covering the data)."""
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage, generate_uid

    pixels = np.asarray(pixels)
    if pixels.ndim != 2:
        raise ValueError(f"write_dicom takes a 2-D grayscale array, got shape {pixels.shape}")
    if not np.issubdtype(pixels.dtype, np.integer) or pixels.min() < 0 or pixels.max() > 65535:
        raise ValueError("write_dicom takes integer pixels in 0..65535 (stored as unsigned 16-bit)")
    stored = np.ascontiguousarray(pixels, dtype=np.uint16)
    # UIDs derived from the pixels, not random: the same scan always gives the same file.
    digest = hashlib.sha256(stored.tobytes()).hexdigest()
    study, series, instance = (generate_uid(entropy_srcs=[digest, part]) for part in ("study", "series", "instance"))

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage  # not acquired by a device: secondary capture
    meta.MediaStorageSOPInstanceUID = instance
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset(str(path), {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID = SecondaryCaptureImageStorage
    ds.SOPInstanceUID = instance
    ds.StudyInstanceUID, ds.SeriesInstanceUID = study, series
    ds.Modality = "OT"  # "other": synthetic pixels, not a CT or MR acquisition
    ds.PatientName, ds.PatientID = "Qilin^Synthetic", "QILIN0000"
    ds.ConversionType = "SYN"  # synthetic image
    ds.set_pixel_data(stored, photometric_interpretation="MONOCHROME2", bits_stored=16, generate_instance_uid=False)
    ds.RescaleSlope, ds.RescaleIntercept = 1, 0
    low, high = int(stored.min()), int(stored.max())
    ds.WindowCenter, ds.WindowWidth = (low + high) / 2, max(high - low, 1)
    ds.save_as(path, enforce_file_format=True)
