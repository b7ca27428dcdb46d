"""Run by tests/dags/test_daily_cycle_dag.py with the Airflow environment's Python (make
setup-airflow): imports the DAG folder, then runs the DAG with `dag.test()` against local stand-ins
(a folder store, a local registry, the replayed reference series), three times: one day, the same
day again, and a missed day backfilled after a later one. Prints one JSON line with what it saw.

Usage: python tests/dags/dag_check.py <work folder>
"""

from __future__ import annotations

import json
import os
import sys
from datetime import date, timedelta
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
WARM_UP_DAYS = 56


def main(work: Path) -> dict:
    os.environ |= {
        "AIRFLOW_HOME": str(work / "airflow"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO_ROOT / "pipelines" / "dags"),
        "AIRFLOW__CORE__UNIT_TEST_MODE": "True",
        "MLOPS_CYCLE_SETTINGS": str(work / "daily_cycle.json"),
    }
    sys.path.insert(0, str(REPO_ROOT))
    from pipelines.logic import cycle_models
    from pipelines.logic.collection import ReplaySource, collect, history
    from pipelines.logic.cycle import CycleConfig, forecast_step
    from pipelines.logic.data import load_reference
    from pipelines.logic.registry import open_registry

    config = CycleConfig(
        store_root=str(work / "store"), registry_uri=str(work / "registry"), source={"kind": "reference"}
    )
    (work / "daily_cycle.json").write_text(
        json.dumps(
            {"config": config.to_dict(), "cron": "0 7 * * *", "time_zone": "Etc/UTC", "start_date": "2000-06-05"}
        )
    )
    source = ReplaySource(load_reference(), config.spec)
    first = source.days[0]
    warm_up = [first + timedelta(days=n) for n in range(WARM_UP_DAYS)]
    for day in warm_up:
        collect(config.store, source, day, config.spec)
    cycle_models.retrain(
        open_registry(config.registry_uri),
        history(config.store, config.spec),
        config.spec,
        holdout_days=7,
        metric="mae",
        margin=0.01,
    )
    forecast_step(config, warm_up[-1])

    from airflow.models import DagBag
    from airflow.utils.db import initdb

    initdb()
    bag = DagBag(include_examples=False)
    dag = bag.get_dag("daily_cycle")
    report = {
        "import_errors": {Path(k).name: v.splitlines()[-1] for k, v in bag.import_errors.items()},
        "dag_ids": sorted(bag.dag_ids),
        "tasks": [t.task_id for t in dag.topological_sort()],
        "downstream": {t.task_id: sorted(t.downstream_task_ids) for t in dag.tasks},
        "retries": sorted({t.retries for t in dag.tasks}),
        "schedule": str(dag.schedule_interval),
        "catchup": dag.catchup,
        "max_active_runs": dag.max_active_runs,
        "runs": [],
    }

    import pendulum

    def run(day: date) -> None:
        files_before = set(config.store.list("")) if (work / "store").exists() else set()
        contents_before = {p: (work / "store" / p).read_bytes() for p in files_before}
        dag_run = dag.test(execution_date=pendulum.datetime(day.year, day.month, day.day, 7, tz="UTC"))
        files_after = set(config.store.list(""))
        report["runs"].append(
            {
                "day": day.isoformat(),
                "state": str(dag_run.state),
                "task_states": {ti.task_id: str(ti.state) for ti in dag_run.get_task_instances()},
                "new_files": sorted(files_after - files_before),
                "changed_files": sorted(
                    p for p in files_before if (work / "store" / p).read_bytes() != contents_before[p]
                ),
            }
        )

    day_1, day_2, day_3 = (warm_up[-1] + timedelta(days=n) for n in (1, 2, 3))
    run(day_1)  # a day
    run(day_1)  # the same day again: nothing new, nothing changed
    run(day_3)  # a later day while day_2 was missed
    run(day_2)  # day_2 backfilled
    report["versions"] = [v.version for v in open_registry(config.registry_uri).versions()]
    return report


if __name__ == "__main__":
    print(json.dumps(main(Path(sys.argv[1]))))
