"""The pipelines compile, and run end to end with kfp.local on a small slice of real data."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml

from environments.naming import PIPELINES
from pipelines.kfp_glue.definitions import build
from pipelines.logic.registry import LocalRegistry

HOLDOUT_DAYS = 2
SLICE_DAYS = 23  # three weeks before the first of 2 backtest folds (features.MIN_TRAINING_DAYS)
# The reference's first days: there the models beat the naive rules on a 2-day backtest (on its
# last two days, a weekend, the weekly rule wins with three weeks of training).


def test_every_pipeline_compiles_with_its_image(tmp_path):
    from pipelines.ops.cli import compile_pipelines

    paths = compile_pipelines(None, tmp_path)
    assert sorted(paths) == sorted(PIPELINES)
    for name, path in paths.items():
        template = yaml.safe_load(path.read_text())
        assert template["pipelineInfo"]["name"] == name
        images = {e["container"]["image"] for e in template["deploymentSpec"]["executors"].values()}
        assert images == {"mlops-platform/python-components:local"}
        commands = json.dumps(template["deploymentSpec"])
        assert "pip install" not in commands, "components must not install packages at run time"


def test_monitoring_retrains_inside_a_condition():
    template = build().monitoring.pipeline_spec
    tasks = template.root.dag.tasks
    (condition,) = [t for t in tasks.values() if t.trigger_policy.condition]
    assert "detect-drift" in condition.trigger_policy.condition


@pytest.fixture(scope="module")
def local_runs(tmp_path_factory):
    from pipelines.kfp_glue import local

    root = tmp_path_factory.mktemp("local")
    local.init(root / "pipeline-root")
    with local.component_scratch():  # as `make run-pipeline` runs them: no program left in /tmp
        yield root


@pytest.fixture(scope="module")
def slice_csv(local_runs, reference):
    path = local_runs / "slice.csv"
    reference.head(SLICE_DAYS * 48).to_csv(path, index=False)
    return str(path)


@pytest.fixture(scope="module")
def trained(local_runs, slice_csv):
    """One training run on the slice: the registry's first champion."""
    registry = local_runs / "registry"
    task = build().training(registry_uri=str(registry), source=slice_csv, holdout_days=HOLDOUT_DAYS)
    return registry, task.output


def test_training_registers_a_first_champion(trained):
    registry_path, version = trained
    registry = LocalRegistry(registry_path)
    champion = registry.champion()
    assert version == "1" and champion.version == "1"
    assert champion.metrics["promoted"] is True
    assert champion.metrics["holdout"]["mae"] < champion.metrics["baseline"]["mae"]
    files = {p.name for p in Path(champion.artifacts).iterdir()}
    assert files == {"forecaster.json", "training_data.parquet", "version.json"}
    assert set(champion.metrics["backtest"]["scores"]) == {
        "seasonal",
        "trees",
        "ensemble",
        "naive_daily",
        "naive_weekly",
    }


def test_gate_refuses_a_weak_challenger_and_the_champion_stays(trained, slice_csv):
    registry_path, _ = trained
    weak = {"n_estimators": 2, "max_depth": 1, "learning_rate": 0.01}
    version = (
        build()
        .training(registry_uri=str(registry_path), source=slice_csv, holdout_days=HOLDOUT_DAYS, model_params=weak)
        .output
    )
    registry = LocalRegistry(registry_path)
    assert registry.champion().version == "1"
    rejected = next(v for v in registry.versions() if v.version == version)
    assert rejected.metrics["promoted"] is False
    assert rejected.metrics["reason"].startswith("challenger (")


def test_prediction_writes_next_day_forecasts_with_the_model_version(trained, slice_csv):
    registry_path, _ = trained
    forecasts = build().prediction(registry_uri=str(registry_path), source=slice_csv, horizon=12).output
    frame = pd.read_csv(forecasts.path)
    assert list(frame.columns) == ["timestamp", "forecast", "lo_80", "hi_80", "lo_95", "hi_95", "model_version"]
    assert len(frame) == 12 and set(frame["model_version"].astype(str)) == {"1"}
    assert frame["timestamp"].iloc[0] == "2000-06-28 00:00:00"


def test_monitoring_reports_drift_and_retrains_on_its_own_source_above_the_threshold(trained, local_runs, reference):
    registry_path, _ = trained
    registry = LocalRegistry(registry_path)
    before = len(registry.versions())
    recent = local_runs / "recent.csv"  # the reference's last days: not the champion's slice
    reference.tail(SLICE_DAYS * 48).to_csv(recent, index=False)
    report = (
        build()
        .monitoring(
            registry_uri=str(registry_path), source=str(recent), drift_threshold=-1.0, holdout_days=HOLDOUT_DAYS
        )
        .output
    )
    html = Path(report.path).read_text()
    assert "<html" in html.lower()
    assert len(registry.versions()) == before + 1, "drift above the threshold must start retraining"
    retrained = registry.versions()[-1]
    training_rows = pd.read_parquet(Path(retrained.artifacts) / "training_data.parquet")
    # Retrained on the run's own source, all of it (the challenger is refit on every day it was evaluated on).
    assert len(training_rows) == SLICE_DAYS * 48
    assert str(training_rows.index[0]) == str(pd.to_datetime(reference["timestamp"]).iloc[-SLICE_DAYS * 48])
    quiet = build().monitoring(
        registry_uri=str(registry_path), source=str(recent), drift_threshold=1.0, holdout_days=HOLDOUT_DAYS
    )
    assert Path(quiet.output.path).exists() and len(registry.versions()) == before + 1


def test_bad_data_fails_the_run_at_validation(local_runs, reference, trained):
    registry_path, _ = trained
    path = local_runs / "short.csv"
    reference.head(48 * 3).to_csv(path, index=False)
    with pytest.raises(RuntimeError, match="validate"):
        build().training(registry_uri=str(registry_path), source=str(path), holdout_days=HOLDOUT_DAYS)


def test_batch_prediction_refusals_name_the_input_file(tmp_path, with_temperature):
    """Validation passes the source's name on: a prediction input without the exogenous values of
    the day ahead was refused by batch prediction as 'input'."""
    from kfp.dsl import Dataset

    from pipelines.kfp_glue import components
    from pipelines.logic.backtest import train_challenger
    from pipelines.logic.data import DataSpec, validate

    spec = DataSpec(exogenous_columns=("temperature",))
    training = validate(with_temperature, spec, "train.csv").iloc[: -7 * spec.periods_per_day]
    train_challenger(training, spec, 2, {"n_estimators": 10}, families=("trees",)).save(tmp_path / "model")
    registry = LocalRegistry(tmp_path / "registry")
    registry.register(tmp_path / "model", {"mae": 1.0}, promote=True)
    raw = Dataset(uri=str(tmp_path / "raw.parquet"), metadata={"source": "next_day.csv"})
    with_temperature.tail(10 * spec.periods_per_day).to_parquet(raw.path)  # observations only
    validated = Dataset(uri=str(tmp_path / "validated.parquet"))
    components.validate(raw, spec.to_dict(), "prediction", 7, validated)
    with pytest.raises(SystemExit) as refused:
        components.batch_predict(validated, str(registry.root), 48, Dataset(uri=str(tmp_path / "forecasts.csv")))
    assert str(refused.value) == (
        "invalid data: next_day.csv: column 'temperature': no value for 2000-08-28 00:00:00; expected future "
        "values for all 48 forecast periods"
    )
