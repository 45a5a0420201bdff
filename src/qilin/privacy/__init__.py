"""PHI de-identification of training data: typed spans, per-record placeholders or surrogates, whole files.

deid_files([Path("notes.txt")], Path("clean/"))      # clean/notes.txt with [姓名1], [电话1], ...
deid_texts(["患者王小明头痛"])                        # (["患者[姓名1]头痛"], [[Span("name", 2, 5, "王小明")]])
"""

from qilin.privacy.detect import detect_phi
from qilin.privacy.files import PhiReport, deid_files, scan_file
from qilin.privacy.record import deid_texts
from qilin.privacy.spans import TYPES, Span

__all__ = ["TYPES", "PhiReport", "Span", "deid_files", "deid_texts", "detect_phi", "scan_file"]
