"""The dashboard: what it reads from the registry and runs, and the page in a real headless Chromium."""

from __future__ import annotations

import itertools
import json
import os
import shutil
import subprocess
from datetime import date, timedelta
from pathlib import Path

import pandas as pd
import pytest
import requests

from environments.loading import REPO_ROOT
from functions.serve import serving
from pipelines.logic.cycle_store import CycleStore
from pipelines.logic.data import DataSpec, load_reference, validate
from pipelines.logic.registry import LocalRegistry
from tests.support.dashboard import V1, V2
from tools.dashboard import data
from tools.dashboard.page import render
from tools.dashboard.server import main

SCREENSHOT = REPO_ROOT / "build" / "dashboard" / "dashboard.png"


def write_task(run: Path, task: str, output: dict | None) -> None:
    """A task folder as kfp.local leaves it: `executor_output.json` once the task succeeded."""
    (run / task).mkdir(parents=True)
    if output is not None:
        (run / task / "executor_output.json").write_text(json.dumps(output))


@pytest.fixture(scope="module")
def sources(trained, tmp_path_factory) -> data.Sources:
    root = tmp_path_factory.mktemp("dashboard")
    registry = LocalRegistry(root / "registry")
    registry.register(trained, V1, promote=True)
    registry.register(trained, V2, promote=False)
    runs = root / "local-runs"
    write_task(runs / "training-20260101", "ingest", {})
    write_task(runs / "training-20260101", "train", None)  # failed
    drift = {"artifacts": {"metrics": {"artifacts": [{"metadata": {"drift_share": 0.67, "threshold": 0.5}}]}}}
    write_task(runs / "monitoring-20260102", "drift", drift)
    return data.Sources(registry=str(root / "registry"), runs=str(runs))


def test_gathers_versions_champions_drift_and_runs(sources):
    found = data.gather(sources)
    assert [(r["version"], r["holdout"]["mae"], r["baseline"]["mae"], r["promoted"]) for r in found["accuracy"]] == [
        ("1", 355.9, 370.1, True),
        ("2", 356.2, 370.1, False),
    ]
    assert [(c["version"], c["until"], c["reason"]) for c in found["champions"]] == [
        ("1", None, "no champion yet; challenger mae 355.86 beats the baseline 370.12")
    ]
    assert found["drift"] == {"run": "monitoring-20260102", "drift_share": 0.67, "threshold": 0.5}
    assert sorted((r["run"], r["status"], r["finished"], r["tasks"]) for r in found["runs"]) == [
        ("monitoring-20260102", "succeeded", 1, 1),
        ("training-20260101", "failed or stopped", 1, 2),
    ]


def test_drift_is_the_newest_monitoring_of_the_dashboards_model(sources, tmp_path):
    """A newer monitoring run of another model (another registry) is not this model's drift."""
    runs = tmp_path / "runs"
    for age, (run, registry, share) in enumerate((("mine", sources.registry, 0.25), ("theirs", "/other", 1.0))):
        metrics = {"artifacts": [{"metadata": {"drift_share": share, "threshold": 0.5}}]}
        monitored = {"artifacts": [{"metadata": {"registry_uri": registry}}]}
        output = {"artifacts": {"metrics": metrics, "report_json": monitored}}
        write_task(runs / f"monitoring-{run}", "detect-drift", output)
        written = runs / f"monitoring-{run}" / "detect-drift" / "executor_output.json"
        os.utime(written, (1_000_000 + age, 1_000_000 + age))  # theirs the newer, whatever the clock's resolution
    local = data.Sources(registry=sources.registry + "/.", runs=str(runs))  # the same folder, spelled otherwise
    assert data.gather(local)["drift"] == {"run": "monitoring-mine", "drift_share": 0.25, "threshold": 0.5}


def test_backtests_the_champion_on_the_last_week_of_its_training_data(sources):
    """The champion was trained on the reference up to 2000-08-20 (tests/tools/conftest.py)."""
    backtest = data.gather(sources)["backtest"]
    assert backtest["version"] == "1"
    assert len(backtest["timestamps"]) == 336
    assert backtest["timestamps"][0] == "2000-08-14T00:00:00"
    assert backtest["timestamps"][-1] == "2000-08-20T23:30:00"
    reference = load_reference().set_index("timestamp")["demand"]
    assert backtest["actual"][0] == float(reference["2000-08-14 00:00:00"])
    assert backtest["naive"][0] == float(reference["2000-08-07 00:00:00"])
    errors = [abs(f - a) for f, a in zip(backtest["forecast"], backtest["actual"], strict=True)]
    assert sum(errors) / len(errors) < 1000  # MW: a forecast, not noise (demand is ~20-45 GW)


def test_the_forecasts_carry_the_intervals_predict_serves(sources, trained):
    """Each day's bounds are what predict answers for that day from the data before it."""
    import numpy as np

    from pipelines.logic.model import Forecaster, Series
    from pipelines.logic.spec import DataSpec

    backtest = data.gather(sources)["backtest"]
    forecaster, spec = Forecaster.load(trained), DataSpec()
    trained_on = validate(load_reference(), spec, "reference").iloc[: -7 * spec.periods_per_day]
    series = Series.of(trained_on, spec)
    day = 2 * spec.periods_per_day  # the third day shown
    origin = len(series.y) - 5 * spec.periods_per_day
    served = forecaster.predict(series.timestamps[origin - 1], series.y[:origin], spec.periods_per_day, {})
    for key in ("forecast", "lo_80", "hi_80", "lo_95", "hi_95"):
        np.testing.assert_allclose(backtest[key][day : day + spec.periods_per_day], served[key], rtol=1e-12)
    assert backtest["timestamps"][day] == pd.Timestamp(series.timestamps[origin]).isoformat()
    assert "with its intervals" in render(data.gather(sources))


def test_a_model_of_another_spec_is_shown_on_its_own_data(tmp_path):
    """A team's hourly sales model: the dashboard forecasts its own series, with its own columns."""
    import numpy as np

    from pipelines.logic.backtest import train_challenger
    from pipelines.logic.spec import DataSpec

    spec = DataSpec(timestamp_column="ts", target_column="sales", frequency="1h")
    hours = pd.date_range("2025-01-06", periods=42 * 24, freq="1h")  # through 2025-02-16
    daily = np.maximum(0, 40 * np.sin(np.pi * (hours.hour - 6) / 14)) * (hours.hour.isin(range(6, 21)))
    sales = daily * np.where(hours.dayofweek >= 5, 1.3, 1.0) + np.random.default_rng(7).gamma(2.0, 1.0, len(hours))
    frame = validate(pd.DataFrame({"ts": hours, "sales": sales}), spec, "sales.csv")
    folder = tmp_path / "model"
    train_challenger(frame, spec, 3, {"n_estimators": 20}).save(folder)
    LocalRegistry(tmp_path / "registry").register(folder, V1, promote=True)

    found = data.gather(data.Sources(registry=str(tmp_path / "registry"), runs=str(tmp_path / "runs")))
    backtest = found["backtest"]
    assert backtest["timestamps"][0] == "2025-02-10T00:00:00" and len(backtest["timestamps"]) == 7 * 24
    assert backtest["actual"] == [float(v) for v in sales[-7 * 24 :]]
    assert "forecasts" in render(found)


def test_a_fresh_checkout_shows_what_to_run(tmp_path):
    found = data.gather(data.Sources(registry=str(tmp_path / "registry"), runs=str(tmp_path / "runs")))
    assert found == {"accuracy": [], "champions": [], "backtest": None, "drift": None, "runs": []}
    page = render(found)
    assert "No champion yet: run `make run-pipeline PIPELINE=training`" in page
    assert "No monitoring run yet" in page and "No local run yet." in page


def test_a_bad_port_or_registry_exits_2_before_serving(capsys):
    assert main(["--port", "0"]) == 2
    assert capsys.readouterr().err == "PORT: '0' is not a port; expected a number from 1 to 65535\n"
    assert main(["--registry", "README.md"]) == 2  # the tests run in the repository
    assert capsys.readouterr().err == (
        "registry: 'README.md' is a file; expected a registry folder or vertex://<project>/<region>/<model>\n"
    )


def chromium(*arguments: str, profile: Path) -> subprocess.CompletedProcess:
    browser = shutil.which("chromium")
    assert browser, "Chromium is missing: `make setup-browser` installs it from Debian's packages"
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={profile}",
        "--virtual-time-budget=15000",
    ]
    return subprocess.run([browser, *flags, *arguments], capture_output=True, text=True, timeout=120, check=True)


def cycle_store(root: Path) -> CycleStore:
    """Two collected days, version 1's forecasts of both, version 2's of the second, and the
    second day's scores."""
    store = CycleStore(str(root))
    for day, level in ((date(2024, 3, 4), 100.0), (date(2024, 3, 5), 110.0)):
        stamps = pd.date_range(pd.Timestamp(day), periods=2, freq="12h")
        store.write_frame(store.observations_path(day), pd.DataFrame({"timestamp": stamps, "demand": [level, level]}))
        for version, offset in (("1", 5.0), ("2", -2.0)):
            if version == "2" and day == date(2024, 3, 4):
                continue
            frame = pd.DataFrame({"timestamp": stamps, "forecast": [level + offset] * 2})
            store.write_frame(
                store.forecasts_path(day - timedelta(days=1), version),
                frame.assign(model_version=version, origin=str(day - timedelta(days=1))),
            )
    scores = pd.DataFrame(
        {
            "day": ["2024-03-05", "2024-03-05"],
            "model_version": ["1", "2"],
            "mae": [5.0, 2.0],
            "mape": [4.5, 1.8],
            "naive_daily_mae": [10.0, 10.0],
            "naive_weekly_mae": [12.0, 12.0],
        }
    )
    store.write_frame(store.scores_path(date(2024, 3, 5)), scores)
    return store


def test_reads_the_cycles_forecasts_against_actuals_and_its_daily_accuracy(tmp_path):
    found = data.gather_cycle(cycle_store(tmp_path).root, DataSpec())
    assert found["forecasts"] == {
        "target": "demand",
        "timestamps": ["2024-03-04T00:00:00", "2024-03-04T12:00:00", "2024-03-05T00:00:00", "2024-03-05T12:00:00"],
        "actual": [100.0, 100.0, 110.0, 110.0],
        "versions": {"1": [105.0, 105.0, 115.0, 115.0], "2": [None, None, 108.0, 108.0]},
    }
    assert found["accuracy"] == [
        {"day": "2024-03-05", "version": "1", "mae": 5.0, "naive_daily": 10.0, "naive_weekly": 12.0},
        {"day": "2024-03-05", "version": "2", "mae": 2.0, "naive_daily": 10.0, "naive_weekly": 12.0},
    ]
    assert data.gather_cycle(tmp_path / "nothing", DataSpec()) == {"forecasts": None, "accuracy": []}


def test_the_page_draws_its_charts_with_data_in_chromium(sources, tmp_path):
    cycle_store(tmp_path / "cycle")
    arguments = ["tools.dashboard.server", "--registry", sources.registry, "--runs", sources.runs]
    arguments += ["--cycle", str(tmp_path / "cycle")]
    with serving(arguments) as url:
        assert requests.get(url + "plotly.min.js", timeout=10).headers["Content-Type"] == "application/javascript"
        assert requests.get(url + "elsewhere", timeout=10).status_code == 404
        dom = chromium("--dump-dom", url, profile=tmp_path / "dom").stdout
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        chromium(f"--screenshot={SCREENSHOT}", "--window-size=1200,3500", url, profile=tmp_path / "shot")
    # plotly draws each chart as SVG: one trace group per series, inside the chart's own div.
    # The forecasts: actual, champion, naive, and each interval as its two bounds (80 % and 95 %).
    charts = (("forecasts", 7), ("accuracy", 2), ("champions", 1), ("drift", 1), ("versions", None))
    cycle_charts = (("cycle-forecasts", 3), ("cycle-accuracy", 4), (None, None))
    for (chart, traces), (following, _) in itertools.pairwise(charts):
        section = dom.split(f'id="{chart}"', 1)[1].split(f'id="{following}"', 1)[0]
        assert 'class="main-svg"' in section, chart
        drawn = section.count('class="trace scatter') + section.count('class="trace bars')
        assert drawn == traces, (chart, drawn)
    for (chart, traces), (following, _) in itertools.pairwise(cycle_charts):
        section = dom.split(f'id="{chart}"', 1)[1]
        section = section.split(f'id="{following}"', 1)[0] if following else section
        assert 'class="main-svg"' in section, chart
        assert section.count('class="trace scatter') == traces, chart
    assert "<td>monitoring-20260102</td><td>succeeded</td>" in dom
    assert SCREENSHOT.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
