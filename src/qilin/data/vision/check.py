"""`qilin data check --kind vl|caption|pmcvqa`: read a VL file and open every image it names."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from qilin.data.vision.formats import read_pmcvqa, read_vl_file
from qilin.data.vision.images import ImageError, load_image


@dataclass
class VLFileReport:
    """Records of a VL file and the ones whose image cannot be read (`path:where: why`)."""

    path: Path
    kind: str
    records: int = 0
    bad_images: list[str] = field(default_factory=list)


def check_vl_file(path: Path, kind: str, images: Path | None = None) -> VLFileReport:
    """Read `path` as `kind` data (vl, caption or pmcvqa) and try every image; a bad record raises DataError."""
    root = images or path.parent
    if kind == "pmcvqa":
        named = [(f"question {i}", q.image) for i, q in enumerate(read_pmcvqa(path, root), 1)]
    else:
        named = [(r.where, r.image) for r in read_vl_file(path, kind, root)]
    report = VLFileReport(path, kind, records=len(named))
    for where, image in named:
        try:
            load_image(image)
        except ImageError as e:
            report.bad_images.append(f"{path}:{where}: {e}")
    return report
