"""Experiment trackers: a recipe's `report_to` reaches the Trainer with the run and stage names; TensorBoard stays."""

from __future__ import annotations

from pathlib import Path

import pytest

from qilin.config import ModelSettings, SftSettings
from qilin.training.trainer import training_arguments
from tests.conftest import sft_rows, stage_context, write_jsonl


def test_trackers_default_to_tensorboard_only(tmp_path: Path) -> None:
    args = training_arguments(SftSettings(), tmp_path / "demo" / "sft", ModelSettings())
    assert args["report_to"] == "none"  # TensorBoard is attached by the stage itself
    assert args["run_name"] == "demo-sft"
    args = training_arguments(
        SftSettings(report_to=["tensorboard", "mlflow"]), tmp_path / "demo" / "sft", ModelSettings()
    )
    assert args["report_to"] == ["mlflow"]  # never a second TensorBoard writer


def test_sft_logs_to_mlflows_file_store_and_tensorboard(
    tiny_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    mlflow = pytest.importorskip("mlflow")
    from qilin.stages import sft

    store = tmp_path / "mlruns"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store.as_uri())  # a local file store: no server
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # MLflow 3 keeps its file store behind this switch
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", "qilin-test")
    data = write_jsonl(tmp_path / "sft.jsonl", sft_rows())
    cfg = SftSettings(data=[str(data)], max_length=64, batch_size=4, max_steps=3, logging_steps=1, save_steps=100,
                      packing=False, report_to=["mlflow"])  # fmt: skip
    stage_dir = tmp_path / "demo" / "sft"
    sft.run(stage_context(cfg, [data], tiny_model_dir, ModelSettings(), stage_dir))

    client = mlflow.tracking.MlflowClient(tracking_uri=store.as_uri())
    experiment = client.get_experiment_by_name("qilin-test")
    (run,) = client.search_runs([experiment.experiment_id])
    assert run.info.run_name == "demo-sft"
    losses = client.get_metric_history(run.info.run_id, "loss")
    assert [m.step for m in losses] == [1, 2, 3] and all(m.value > 0 for m in losses)
    assert run.data.params["learning_rate"] == str(cfg.learning_rate)
    assert list((stage_dir / "tensorboard").glob("events.out.tfevents.*"))  # TensorBoard still written
