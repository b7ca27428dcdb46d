"""The Composer DAG, in the Airflow of the environments' Composer image (make setup-airflow):
import, task structure, and runs of the DAG against local stand-ins (tests/dags/dag_check.py)."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from environments.loading import load_environments
from environments.schema import Composer

REPO_ROOT = Path(__file__).resolve().parents[2]
AIRFLOW_PYTHON = REPO_ROOT / ".cache" / "airflow" / "bin" / "python"
REQUIREMENTS = REPO_ROOT / "pipelines" / "dags" / "requirements-airflow.txt"


def airflow_pin() -> str:
    return re.search(r"^apache-airflow==([\d.]+)$", REQUIREMENTS.read_text(), re.MULTILINE)[1]


def test_the_dag_tests_use_the_airflow_of_every_composer_image():
    images = {Composer().image_version} | {env.composer.image_version for env in load_environments()}
    assert airflow_pin() == "2.10.5"
    assert {image.removeprefix("composer-3-airflow-").split("-build")[0] for image in images} == {airflow_pin()}


@pytest.fixture(scope="module")
def dag_report(tmp_path_factory) -> dict:
    assert AIRFLOW_PYTHON.is_file(), "the Airflow environment is missing: run make setup-airflow (make test does)"
    work = tmp_path_factory.mktemp("dag")
    done = subprocess.run(
        [str(AIRFLOW_PYTHON), str(REPO_ROOT / "tests" / "dags" / "dag_check.py"), str(work)],
        # dag.test() forks each task after the warm-up trained in the parent: one OpenMP thread, or
        # a forked child can wait forever on a lock of the parent's thread pool.
        env=os.environ | {"OMP_NUM_THREADS": "1"},
        capture_output=True,
        text=True,
        check=False,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_the_dag_imports_with_its_tasks_in_the_cycles_order(dag_report):
    assert dag_report["import_errors"] == {}
    assert dag_report["dag_ids"] == ["daily_cycle"]
    assert dag_report["tasks"] == ["collect", "score", "check", "retrain", "forecast"]
    assert dag_report["downstream"] == {
        "collect": ["score"],
        "score": ["check"],
        "check": ["retrain"],
        "retrain": ["forecast"],
        "forecast": [],
    }
    assert dag_report["retries"] == [3]
    assert (dag_report["schedule"], dag_report["catchup"], dag_report["max_active_runs"]) == ("0 7 * * *", False, 1)


def test_a_run_writes_the_days_files_and_a_second_run_of_the_same_day_writes_nothing(dag_report):
    first, again = dag_report["runs"][0], dag_report["runs"][1]
    assert first["day"] == again["day"] == "2000-07-31"
    assert first["state"] == again["state"] == "success"
    assert set(first["task_states"].values()) == {"success"}
    # The reference's own next day neither drifts nor degrades: checked, nothing retrained.
    assert [path.split("/")[0] for path in first["new_files"]] == ["checks", "forecasts", "observations", "scores"]
    assert "observations/day=2000-07-31/observations.parquet" in first["new_files"]
    assert "scores/day=2000-07-31/scores.parquet" in first["new_files"]
    assert any(path.startswith("forecasts/origin=2000-07-31/version=") for path in first["new_files"])
    assert again["new_files"] == [] and again["changed_files"] == []


def test_a_missed_day_is_backfilled_by_its_logical_date(dag_report):
    later, missed = dag_report["runs"][2], dag_report["runs"][3]
    assert (later["day"], missed["day"]) == ("2000-08-02", "2000-08-01")
    assert later["state"] == missed["state"] == "success"
    # The later day had no forecast of it (its origin was the missed day): collected, not scored.
    assert "observations/day=2000-08-02/observations.parquet" in later["new_files"]
    assert not any(path.startswith("scores/") for path in later["new_files"])
    assert "observations/day=2000-08-01/observations.parquet" in missed["new_files"]
    assert "scores/day=2000-08-01/scores.parquet" in missed["new_files"]
    assert later["changed_files"] == missed["changed_files"] == []
