"""How a local run reads and what it keeps: one line per step, the full log in a file, a failed
step's reason on the last line, bounded run folders; which model a run registers into."""

from __future__ import annotations

import io
import os

import pytest

from pipelines.kfp_glue import local
from pipelines.kfp_glue.local import StepReporter, prune
from pipelines.logic.model_names import derived_model

KFP_OUTPUT = (
    "22:00:00.000 - INFO - Executing task \x1b[96m'ingest'\x1b[0m\n"
    "22:00:00.001 - INFO - Streamed logs:\n"
    "    [KFP Executor 2026-11-23 22:00:00,100 INFO]: Looking for component `ingest`\n"
    "    {\n"
    '        "inputs": {}\n'
    "    }\n"
    "22:00:01.000 - INFO - Task \x1b[96m'ingest'\x1b[0m finished with status \x1b[92mSUCCESS\x1b[0m\n"
    "22:00:01.001 - INFO - Executing task 'validate'\n"
    "    [KFP Executor 2026-11-23 22:00:01,500 INFO]: Looking for component `validate`\n"
    "    invalid data: load.csv: column 'timestamp': 2 duplicate timestamps, first 2000-06-07 02:00:00\n"
    "    load.csv: column 'demand': 2 empty values (NaN), first at 2000-06-05 02:30:00\n"
    "22:00:02.000 - ERROR - Task \x1b[96m'validate'\x1b[0m finished with status \x1b[91mFAILURE\x1b[0m\n"
)


def test_each_step_is_one_plain_line_and_everything_goes_to_the_log():
    log, console = io.StringIO(), io.StringIO()  # a StringIO is not a terminal: no colours
    reporter = StepReporter(log, console)
    for piece in (KFP_OUTPUT[:50], KFP_OUTPUT[50:]):  # lines may arrive in pieces
        reporter.write(piece)
    lines = console.getvalue().splitlines()
    assert [line.split()[:2] for line in lines] == [["SUCCESS", "ingest"], ["FAILURE", "validate"]]
    assert all(line.endswith("s") and "\x1b" not in line for line in lines)
    assert log.getvalue() == KFP_OUTPUT.replace("\x1b[96m", "").replace("\x1b[92m", "").replace("\x1b[91m", "").replace(
        "\x1b[0m", ""
    )
    assert reporter.steps[1].last_lines == [
        "invalid data: load.csv: column 'timestamp': 2 duplicate timestamps, first 2000-06-07 02:00:00",
        "load.csv: column 'demand': 2 empty values (NaN), first at 2000-06-05 02:30:00",
    ]


def test_a_traceback_is_one_reason_the_exception_after_what_the_step_printed():
    crashed = (
        "22:00:00.000 - INFO - Executing task 'daily-cycle'\n"
        "    day 2025-05-01: collecting\n"
        "    Traceback (most recent call last):\n"
        '      File "/x/cycle.py", line 9, in run_day\n'
        "        raise ValueError('Neither `start` nor `end` can be NaT')\n"
        "    ValueError: Neither `start` nor `end` can be NaT\n"
        "22:00:01.000 - ERROR - Task 'daily-cycle' finished with status FAILURE\n"
    )
    reporter = StepReporter(io.StringIO(), io.StringIO())
    reporter.write(crashed)
    (step,) = reporter.steps
    assert step.last_lines == ["day 2025-05-01: collecting", "ValueError: Neither `start` nor `end` can be NaT"]


def test_only_the_newest_runs_and_logs_are_kept(tmp_path):
    (tmp_path / "logs").mkdir()
    for number in range(5):
        (tmp_path / f"training-{number}").mkdir()
        (tmp_path / "logs" / f"training-{number}.log").write_text("log")
        for path in (tmp_path / f"training-{number}", tmp_path / "logs" / f"training-{number}.log"):
            os.utime(path, (1_000_000 + number, 1_000_000 + number))
    prune(tmp_path, keep=2)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["logs", "training-3", "training-4"]
    assert sorted(p.name for p in (tmp_path / "logs").iterdir()) == ["training-3.log", "training-4.log"]


def test_failed_runs_never_push_out_the_newest_run_of_a_pipeline_that_succeeded(tmp_path):
    """A prediction, then three failed trainings and a failed prediction: with room for two runs,
    the prediction that succeeded stays (its forecasts are what its summary pointed to)."""
    names = [
        ("prediction-2026-12-05-10-00-00-000001", True),
        ("training-2026-12-05-10-01-00-000001", False),
        ("training-2026-12-05-10-02-00-000001", False),
        ("prediction-2026-12-05-10-03-00-000001", False),
        ("training-2026-12-05-10-04-00-000001", False),
    ]
    for number, (name, succeeded) in enumerate(names):
        before = local.run_folders(tmp_path)
        (tmp_path / name / "ingest").mkdir(parents=True)
        if succeeded:
            local.mark_succeeded(tmp_path, before)
        os.utime(tmp_path / name, (1_000_000 + number, 1_000_000 + number))
    assert {p.name for p in tmp_path.iterdir() if (p / local.SUCCEEDED).exists()} == {names[0][0]}
    removed = prune(tmp_path, keep=2)
    assert sorted(p.name for p in removed) == [names[1][0], names[2][0]]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([names[0][0], names[3][0], names[4][0]])


def test_a_run_registers_into_the_model_of_its_source_and_spec():
    assert derived_model("reference", {}) == "forecaster"
    assert derived_model("reference", {"frequency": "30min"}) == "forecaster"  # the default, given
    other_spec = derived_model("reference", {"target_column": "load"})
    assert other_spec.startswith("forecaster-") and other_spec.endswith("-reference")
    csv = derived_model("gs://acme-mlops-dev-data/uk/Load_2024.csv", {})
    assert csv.startswith("forecaster-") and csv.endswith("-load-2024")
    assert derived_model("gs://acme-mlops-dev-data/uk/Load_2024.csv", {"frequency": "1h"}) != csv
    assert derived_model(["not", "a", "source"], {}) == "forecaster"


def test_a_spec_other_than_the_champions_is_refused_before_any_step(tmp_path, series):
    from pipelines.logic.data import DataSpec
    from pipelines.logic.model import Forecaster
    from pipelines.logic.registry import LocalRegistry
    from pipelines.ops.cli import champion_spec_problem

    registry_path = tmp_path / "registry"
    assert champion_spec_problem(str(registry_path), {"target_column": "load"}) is None  # no champion yet
    model = tmp_path / "model"
    model.mkdir()
    Forecaster.train(series.iloc[: 20 * 48], DataSpec(), "trees", {"n_estimators": 2, "max_depth": 1}).save(model)
    LocalRegistry(registry_path).register(model, {}, promote=True)
    assert champion_spec_problem(str(registry_path), {}) is None
    assert champion_spec_problem(str(registry_path), {"frequency": "30min"}) is None
    problem = champion_spec_problem(str(registry_path), {"target_column": "load"})
    assert problem.startswith(f"differs from the spec of {registry_path}'s champion version 1: ")
    assert 'target_column "load" (champion: "demand")' in problem and "frequency" not in problem


def test_a_prediction_of_a_model_without_a_champion_names_the_models_that_have_one(
    tmp_path, monkeypatch, capsys, series
):
    """Trained on sales.csv, predicting sales_with_future.csv: another file is another model."""
    from pipelines.logic.data import DataSpec
    from pipelines.logic.model import Forecaster
    from pipelines.logic.registry import LocalRegistry
    from pipelines.ops import cli

    monkeypatch.setattr("environments.loading.LOCAL_REGISTRY", tmp_path / "registry")
    monkeypatch.setattr("environments.loading.LOCAL_MODELS", tmp_path / "registry" / "models")
    monkeypatch.setattr(cli, "REPO_ROOT", tmp_path)
    model = tmp_path / "model"
    Forecaster.train(series.iloc[: 20 * 48], DataSpec(), "trees", {"n_estimators": 2, "max_depth": 1}).save(model)
    LocalRegistry(tmp_path / "registry" / "models" / "forecaster-1234abcd-sales").register(model, {}, promote=True)
    params = '{"source": "/data/sales_with_future.csv"}'
    assert cli.main(["run", "prediction", "--params", params]) == 2
    derived = derived_model("/data/sales_with_future.csv", cli.DEFAULT_DATA_SPEC)  # model_names' own tests
    assert derived.endswith("-sales-with-future")
    assert capsys.readouterr().err == (
        f"PARAMS.registry_uri: not given, so the model of this source and spec, registry/models/{derived}, which "
        "has no champion yet; expected the registry_uri of the model to use (with a champion here: "
        "registry/models/forecaster-1234abcd-sales)\n"
    )


def test_evaluation_refuses_a_champion_of_another_spec_wherever_it_runs(tmp_path, series):
    """The same rule inside the pipeline's evaluate step, which runs on Vertex AI too (where no
    check before the steps can read the registry)."""
    from pipelines.logic.champion import SpecMismatch
    from pipelines.logic.data import DataSpec
    from pipelines.logic.model import Forecaster
    from pipelines.logic.promotion import evaluate
    from pipelines.logic.registry import LocalRegistry

    small = {"n_estimators": 2, "max_depth": 1}
    champion, challenger = tmp_path / "champion", tmp_path / "challenger"
    Forecaster.train(series.iloc[: 20 * 48], DataSpec(), "trees", small).save(champion)
    LocalRegistry(tmp_path / "registry").register(champion, {}, promote=True)
    renamed = series.iloc[: 20 * 48].rename(columns={"demand": "load"})
    Forecaster.train(renamed, DataSpec(target_column="load"), "trees", small).save(challenger)

    with pytest.raises(SpecMismatch) as raised:
        evaluate(LocalRegistry(tmp_path / "registry"), challenger, renamed)
    assert str(raised.value) == (
        'the champion (version 1) was trained on another data spec: target_column "load" (champion: "demand"); '
        "a champion is only compared with challengers of its own spec: expected the champion's spec, or another "
        "model (registry_uri; left unset, it is the model of the run's source and spec)"
    )


def test_a_failed_run_ends_with_the_step_and_every_problem_and_leaves_no_temporary_files(
    tmp_path, monkeypatch, capsys, reference
):
    import tempfile

    import numpy as np
    import pandas as pd

    from pipelines.ops import cli

    temporary = tmp_path / "tmp"
    temporary.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temporary))
    monkeypatch.setenv("TMPDIR", str(temporary))
    monkeypatch.setattr(cli, "LOCAL_PIPELINE_ROOT", tmp_path / "runs")
    monkeypatch.setattr("environments.loading.LOCAL_REGISTRY", tmp_path / "registry")
    bad = reference.copy()
    bad.loc[[5, 9], "demand"] = np.nan
    path = tmp_path / "load.csv"
    pd.concat([bad, bad.iloc[[100, 200]]]).to_csv(path, index=False)

    assert cli.main(["run", "training", "--params", f'{{"source": "{path}"}}']) == 1
    out, err = capsys.readouterr()
    steps = [line.split()[:2] for line in out.splitlines()[1:]]
    assert steps == [["SUCCESS", "ingest"], ["FAILURE", "validate"]] and "\x1b" not in out
    *above, last = err.strip().splitlines()
    assert above == [f"invalid data: {path}: column 'timestamp': 2 duplicate timestamps, first 2000-06-07 02:00:00"]
    assert last.startswith(
        f"run-pipeline training failed at step validate: 2 problems, the last: {path}: column 'demand': 2 empty "
        "values (NaN), first at 2000-06-05 02:30:00; expected a number in every row (full log: "
    )
    (log,) = (tmp_path / "runs" / "logs").iterdir()
    assert str(log) in last and "Executing task 'validate'" in log.read_text()
    (run,) = local.run_folders(tmp_path / "runs")
    assert run.name.startswith("training-") and not (run / local.SUCCEEDED).exists()
    # kfp's steps wrote their programs into temporary folders (kfp.local leaves those behind)
    assert list(temporary.iterdir()) == [] and os.environ["TMPDIR"] == str(temporary)
