"""Functions under test: a functions-framework app (test client) or a real server, and the JSON
values the bad-request properties are made of."""

from __future__ import annotations

from hypothesis import strategies as st

from environments.loading import REPO_ROOT
from functions.serve import local_environment, serving
from pipelines.logic.data import load_reference

FIRED = {"X-CloudScheduler-ScheduleTime": "2026-11-22T03:00:00Z"}
TEAMS = {"forecasting": "team-forecasting@acme-mlops-dev.iam.gserviceaccount.com"}
HISTORY_ROWS = 9 * 48  # enough for every feature


def history(rows: int = HISTORY_ROWS) -> list[dict]:
    frame = load_reference().tail(rows)
    return [
        {"timestamp": t.isoformat(), "demand": float(d)}
        for t, d in zip(frame["timestamp"], frame["demand"], strict=True)
    ]


def make_app(function: str, variables: dict[str, str], monkeypatch):
    import functions_framework

    for key, value in local_environment(function, "dev").items():
        monkeypatch.setenv(key, value)
    for key, value in variables.items():
        monkeypatch.setenv(key, value)
    source = REPO_ROOT / "functions" / function / "main.py"
    target = {"pipeline_trigger": "trigger", "predict": "predict"}[function]
    return functions_framework.create_app(target=target, source=str(source)).test_client()


def serve(function: str, variables: dict[str, str]):
    """`make serve` for real: a functions-framework process on a free loopback port; yields its URL."""
    return serving(["functions.serve", "--function", function], variables)


# Any JSON value, nested a little: the raw material of the bad-request properties.
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)
