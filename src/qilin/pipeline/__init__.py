"""Running a recipe: the manifest, its inputs, the evaluation hook, and the stage loop.

manifest.py    manifest.json: each stage's inputs, fingerprint, output, metrics, status
inputs.py      data entries -> files; the base model and vision tower a run starts from (the embedded ones from
               qilin.embedded), the RAG index
evaluation.py  score the base model and each stage's output once per model and settings (eval.benchmarks)
gates.py       check each stage's gates (eval.gates); GateFailed stops a strict run before the next stage
runner.py      run_recipe: the stage loop (skip, resume, rerun) over the stage protocol; writes report.md
store.py       finished stage outputs by fingerprint, shared between run directories
ablation.py    the recipe without each stage, per seed, in sibling run directories
"""

from qilin.pipeline.gates import GateFailed
from qilin.pipeline.runner import run_recipe

__all__ = ["GateFailed", "run_recipe"]
