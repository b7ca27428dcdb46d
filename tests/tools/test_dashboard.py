"""The dashboard: what it reads from the registry and runs, and the page in a real headless Chromium."""

from __future__ import annotations

import itertools
import json
import shutil
import subprocess
from pathlib import Path

import pytest
import requests

from environments.loading import REPO_ROOT
from functions.serve import serving
from pipelines.logic.backtest import train_challenger
from pipelines.logic.data import DataSpec, load_reference, validate
from pipelines.logic.registry import LocalRegistry
from tools.dashboard import data
from tools.dashboard.page import render
from tools.dashboard.server import main

SCREENSHOT = REPO_ROOT / "build" / "dashboard" / "dashboard.png"
V1 = {
    "holdout": {"mae": 355.9, "rmse": 460.7, "mape": 1.18},
    "baseline": {"mae": 370.1, "rmse": 488.8, "mape": 1.22},
    "promoted": True,
    "reason": "no champion yet; challenger mae 355.86 beats the baseline 370.12",
    "previous_champion": None,
}
V2 = {
    "holdout": {"mae": 356.2, "rmse": 461.0, "mape": 1.19},
    "baseline": {"mae": 370.1, "rmse": 488.8, "mape": 1.22},
    "promoted": False,
    "reason": "challenger mae 356.20 does not beat champion 355.86 by 1%",
    "previous_champion": "1",
}


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    spec = DataSpec()
    training = validate(load_reference(), spec, "reference").iloc[: -7 * spec.periods_per_day]
    folder = tmp_path_factory.mktemp("model")
    train_challenger(training, spec, 3, {"n_estimators": 40}).save(folder)
    return folder


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
    return data.Sources(registry=root / "registry", runs=runs)


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


def test_backtests_the_champion_on_the_reference_datas_last_week(sources):
    backtest = data.gather(sources)["backtest"]
    assert backtest["version"] == "1"
    assert len(backtest["timestamps"]) == 336
    assert backtest["timestamps"][0] == "2000-08-21T00:00:00"
    assert backtest["timestamps"][-1] == "2000-08-27T23:30:00"
    reference = load_reference().set_index("timestamp")["demand"]
    assert backtest["actual"][0] == float(reference["2000-08-21 00:00:00"])
    assert backtest["naive"][0] == float(reference["2000-08-14 00:00:00"])
    errors = [abs(f - a) for f, a in zip(backtest["forecast"], backtest["actual"], strict=True)]
    assert sum(errors) / len(errors) < 1000  # MW: a forecast, not noise (demand is ~20-45 GW)


def test_a_fresh_checkout_shows_what_to_run(tmp_path):
    found = data.gather(data.Sources(registry=tmp_path / "registry", runs=tmp_path / "runs"))
    assert found == {"accuracy": [], "champions": [], "backtest": None, "drift": None, "runs": []}
    page = render(found)
    assert "No champion yet: run `make run-pipeline PIPELINE=training`" in page
    assert "No monitoring run yet" in page and "No local run yet." in page


def test_a_bad_port_exits_2_before_serving(capsys):
    assert main(["--port", "0"]) == 2
    assert capsys.readouterr().err == "PORT: '0' is not a port; expected a number from 1 to 65535\n"


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


def test_the_page_draws_its_charts_with_data_in_chromium(sources, tmp_path):
    arguments = ["tools.dashboard.server", "--registry", str(sources.registry), "--runs", str(sources.runs)]
    with serving(arguments) as url:
        assert requests.get(url + "plotly.min.js", timeout=10).headers["Content-Type"] == "application/javascript"
        assert requests.get(url + "elsewhere", timeout=10).status_code == 404
        dom = chromium("--dump-dom", url, profile=tmp_path / "dom").stdout
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        chromium(f"--screenshot={SCREENSHOT}", "--window-size=1200,2600", url, profile=tmp_path / "shot")
    # plotly draws each chart as SVG: one trace group per series, inside the chart's own div.
    charts = (("forecasts", 3), ("accuracy", 2), ("champions", 1), ("drift", 1), ("versions", None))
    for (chart, traces), (following, _) in itertools.pairwise(charts):
        section = dom.split(f'id="{chart}"', 1)[1].split(f'id="{following}"', 1)[0]
        assert 'class="main-svg"' in section, chart
        drawn = section.count('class="trace scatter') + section.count('class="trace bars')
        assert drawn == traces, (chart, drawn)
    assert "<td>monitoring-20260102</td><td>succeeded</td>" in dom
    assert SCREENSHOT.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
