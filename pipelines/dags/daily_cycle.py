"""The daily cycle on Composer: one task per step of pipelines/logic/cycle.py, in its order.

Thin: each task calls the step for the run's logical date (`ds`). With the daily schedule, a run's
logical date is the start of its data interval, i.e. the day whose observations are complete when
it runs; so backfilling a missed day is running the DAG for that date
(`airflow dags backfill -s <day> -e <day> daily_cycle`, or "Trigger DAG w/ config" with a logical
date). Steps are idempotent per day and retried (`default_args`).

Settings: the JSON file `daily_cycle.json` next to this file, written by `make deploy-dags ENV=`
from the environment's `cycle:` (or the file named by MLOPS_CYCLE_SETTINGS, as the tests do):
`{"config": CycleConfig.to_dict(), "cron": ..., "time_zone": ..., "start_date": "YYYY-MM-DD"}`.
"""

from __future__ import annotations

import json
import os
from datetime import date, timedelta
from pathlib import Path

import pendulum
from airflow import DAG
from airflow.decorators import task

SETTINGS_VARIABLE = "MLOPS_CYCLE_SETTINGS"
SETTINGS_FILE = "daily_cycle.json"
DAG_ID = "daily_cycle"
DEFAULT_ARGS = {"retries": 3, "retry_delay": timedelta(minutes=5), "retry_exponential_backoff": True}


def settings() -> dict:
    return json.loads(Path(os.environ.get(SETTINGS_VARIABLE) or Path(__file__).with_name(SETTINGS_FILE)).read_text())


def _config():
    from pipelines.logic.cycle import CycleConfig

    return CycleConfig.from_dict(settings()["config"])


_SETTINGS = settings()

with DAG(
    DAG_ID,
    description="Collect, score, check drift and accuracy, retrain through the gate, forecast the next day",
    schedule=_SETTINGS["cron"],
    start_date=pendulum.parse(_SETTINGS["start_date"], tz=_SETTINGS["time_zone"]),
    catchup=False,  # missed days are backfilled on purpose, not all at once after a pause
    max_active_runs=1,  # days build on each other: one at a time, in order
    default_args=DEFAULT_ARGS,
    tags=["mlops-platform", "cycle"],
) as dag:

    @task
    def collect(ds: str | None = None) -> dict:
        from pipelines.logic.cycle import collect_step

        return collect_step(_config(), date.fromisoformat(ds))

    @task
    def score(ds: str | None = None) -> dict:
        from pipelines.logic.cycle import score_step

        return score_step(_config(), date.fromisoformat(ds))

    @task
    def check(ds: str | None = None) -> dict:
        from pipelines.logic.cycle import check_step

        return check_step(_config(), date.fromisoformat(ds))

    @task
    def retrain(ds: str | None = None) -> dict:
        from pipelines.logic.cycle import retrain_step

        return retrain_step(_config(), date.fromisoformat(ds))

    @task
    def forecast(ds: str | None = None) -> dict:
        from pipelines.logic.cycle import forecast_step

        return forecast_step(_config(), date.fromisoformat(ds))

    collect() >> score() >> check() >> retrain() >> forecast()
