"""predict: forecasts from the champion over HTTP; 400 for every bad request, 503 without a champion."""

from __future__ import annotations

import json

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipelines.data import load_reference
from tests.functions.conftest import json_values, make_app, serve

HISTORY_ROWS = 9 * 48  # enough for every feature


def history(rows: int = HISTORY_ROWS) -> list[dict]:
    frame = load_reference().tail(rows)
    return [
        {"timestamp": t.isoformat(), "demand": float(d)}
        for t, d in zip(frame["timestamp"], frame["demand"], strict=True)
    ]


@pytest.fixture
def client(registry, monkeypatch):
    return make_app("predict", {"REGISTRY_URI": str(registry.root), "CHAMPION_CHECK_SECONDS": "0"}, monkeypatch)


def test_forecasts_the_next_periods_with_the_champion_version(client):
    response = client.post("/", json={"history": history(), "horizon": 6})
    assert response.status_code == 200
    body = response.get_json()
    assert body["model_version"] == "1"
    assert [f["timestamp"] for f in body["forecasts"]][:2] == ["2000-08-28T00:00:00", "2000-08-28T00:30:00"]
    assert len(body["forecasts"]) == 6 and all(15_000 < f["forecast"] < 45_000 for f in body["forecasts"])


def test_same_answer_as_the_shared_forecast_module(client, registry):
    from pipelines.data import DataSpec, validate
    from pipelines.forecast import forecast
    from pipelines.model import Forecaster

    series = validate(load_reference().tail(HISTORY_ROWS), DataSpec(), "direct")
    expected = forecast(Forecaster.load(registry.fetch(registry.champion())), series, 3)["forecast"].round(3)
    served = [
        f["forecast"] for f in client.post("/", json={"history": history(), "horizon": 3}).get_json()["forecasts"]
    ]
    assert served == pytest.approx(expected.tolist(), abs=1e-3)


def test_reloads_when_the_champion_moves(client, registry, champion_artifacts):
    assert client.post("/", json={"history": history(), "horizon": 1}).get_json()["model_version"] == "1"
    registry.register(champion_artifacts, {"mae": 0.5}, promote=True)
    assert client.post("/", json={"history": history(), "horizon": 1}).get_json()["model_version"] == "2"


def test_no_champion_is_503_but_bad_input_is_still_400(tmp_path, monkeypatch):
    client = make_app("predict", {"REGISTRY_URI": str(tmp_path / "empty"), "CHAMPION_CHECK_SECONDS": "0"}, monkeypatch)
    assert client.post("/", json={"history": history(), "horizon": 1}).status_code == 503
    bad = client.post("/", json={"history": history(10), "horizon": 1})
    assert bad.status_code == 400 and bad.get_json()["field"] == "history"


@pytest.mark.parametrize(
    ("body", "field", "error"),
    [
        ("not json", "body", "body is not valid JSON: Expecting value: line 1 column 1 (char 0)"),
        ([1, 2], "body", "expected a JSON object with keys history, future, horizon"),
        ({"history": [], "extra": 1}, "extra", "unknown key 'extra'; expected history, future, horizon"),
        ({"horizon": 1}, "history", "expected a list of objects with timestamp, demand"),
        ({"history": [{"timestamp": "2000-01-01"}]}, "history[0]", "expected an object with exactly timestamp, demand"),
        (
            {"history": [{"timestamp": 5, "demand": 1.0}]},
            "history[0].timestamp",
            "expected an ISO 8601 timestamp string",
        ),
        (
            {"history": [{"timestamp": "2000-01-01", "demand": "high"}]},
            "history[0].demand",
            '"high" is not a finite number',
        ),
        (
            {"history": [], "horizon": 49},
            "horizon",
            "49 is not a horizon; expected an integer from 1 to 48 (one day at 30min)",
        ),
        ({"history": [], "horizon": 2}, "history", "0 rows; expected at least 431 (9.0 days at 30min)"),
    ],
)
def test_bad_requests_get_400_with_field_and_message(client, body, field, error):
    data = body if isinstance(body, str) else json.dumps(body)
    response = client.post("/", data=data, content_type="application/json")
    assert response.status_code == 400
    assert response.get_json() == {"error": error, "field": field}


def test_gaps_in_history_are_400(client):
    rows = history()
    del rows[100]
    response = client.post("/", json={"history": rows, "horizon": 1})
    assert response.status_code == 400
    assert "1 periods are missing, first 2000-08-21 02:00:00" in response.get_json()["error"]


def test_only_post(client):
    assert client.get("/").status_code == 405


bad_bodies = st.one_of(
    json_values,
    st.fixed_dictionaries({"history": json_values}, optional={"horizon": json_values, "future": json_values}),
    st.fixed_dictionaries(
        {
            "history": st.lists(
                st.fixed_dictionaries({"timestamp": st.text(max_size=20), "demand": json_values}), max_size=5
            )
        }
    ),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=bad_bodies)
def test_generated_bad_bodies_only_ever_get_4xx(client, body):
    response = client.post("/", data=json.dumps(body), content_type="application/json")
    assert 400 <= response.status_code < 500, response.get_data(as_text=True)


def test_served_over_real_http(registry):
    with serve("predict", {"REGISTRY_URI": str(registry.root)}) as url:
        response = requests.post(url, json={"history": history(), "horizon": 2}, timeout=30)
        assert response.status_code == 200 and response.json()["model_version"] == "1"
        bad = requests.post(url, data="{", headers={"Content-Type": "application/json"}, timeout=30)
        assert bad.status_code == 400 and bad.json()["field"] == "body"
