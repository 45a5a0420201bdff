"""Build this set's notes.jsonl and medical_strings.txt with the first set's converter and all its checks.

python benchmarks/heldout/deid6/build_notes.py   # same as: python benchmarks/heldout/deid/build_notes.py DIR
"""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

if __name__ == "__main__":
    sys.argv = [sys.argv[0], str(HERE)]
    runpy.run_path(str(HERE.parent / "deid" / "build_notes.py"), run_name="__main__")
