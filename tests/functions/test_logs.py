"""The functions' structured log lines: one JSON object per answered request on stderr."""

from __future__ import annotations

import json

import pytest

from functions.logs import log, logged
from tests.support.functions import FIRED, TEAMS, history, make_app


def lines(capsys) -> list[dict]:
    return [json.loads(line) for line in capsys.readouterr().err.splitlines() if line.startswith("{")]


def without_latency(line: dict) -> dict:
    """The line without its latency, after checking that the latency is a duration in ms."""
    latency = line.pop("latency_ms")
    assert isinstance(latency, float) and latency >= 0
    return line


def test_a_line_has_severity_message_and_fields_and_leaves_out_none(capsys):
    log("WARNING", "something", team="forecasting", job_id=None, horizon=3)
    assert (
        capsys.readouterr().err
        == '{"severity": "WARNING", "message": "something", "team": "forecasting", "horizon": 3}\n'
    )


def test_an_unknown_severity_is_refused(capsys):
    with pytest.raises(ValueError, match="severity 'LOUD' is not one of DEBUG, INFO, NOTICE, WARNING, ERROR, CRITICAL"):
        log("LOUD", "x")
    assert capsys.readouterr().err == ""


def test_an_uncaught_exception_is_logged_as_error_and_raised(capsys):
    @logged("example")
    def handler(request, fields):
        fields["pipeline"] = "training"
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        handler(None)
    (line,) = lines(capsys)
    assert without_latency(line) == {
        "severity": "ERROR",
        "message": "example failed: RuntimeError",
        "status": 500,
        "pipeline": "training",
    }


@pytest.fixture
def predict_client(registry, monkeypatch):
    return make_app("predict", {"REGISTRY_URI": str(registry.root), "CHAMPION_CHECK_SECONDS": "0"}, monkeypatch)


def test_predict_logs_the_model_version_horizon_and_latency(predict_client, capsys):
    assert predict_client.post("/", json={"history": history(), "horizon": 6}).status_code == 200
    (line,) = lines(capsys)
    assert without_latency(line) == {
        "severity": "INFO",
        "message": "predict answered 200",
        "status": 200,
        "horizon": 6,
        "model_version": "1",
    }


def test_predict_logs_a_refusal_as_warning_with_the_field(predict_client, capsys):
    assert predict_client.post("/", json={"history": history(), "horizon": 49}).status_code == 400
    (line,) = lines(capsys)
    assert without_latency(line) == {
        "severity": "WARNING",
        "message": "predict answered 400",
        "status": 400,
        "error": "49 is not a horizon; expected an integer from 1 to 48 (one day at 30min)",
        "field": "horizon",
    }


def test_predict_without_a_champion_logs_an_error(tmp_path, monkeypatch, capsys):
    client = make_app("predict", {"REGISTRY_URI": str(tmp_path / "empty"), "CHAMPION_CHECK_SECONDS": "0"}, monkeypatch)
    assert client.post("/", json={"history": history(), "horizon": 1}).status_code == 503
    (line,) = lines(capsys)
    assert without_latency(line) == {
        "severity": "ERROR",
        "message": "predict answered 503",
        "status": 503,
        "horizon": 1,
        "registry": str(tmp_path / "empty"),
        "error": "no champion model yet; run the training pipeline first",
    }


@pytest.fixture
def trigger_client(templates, monkeypatch):
    return make_app(
        "pipeline_trigger",
        {"TEMPLATE_REPOSITORY": str(templates), "DRY_RUN": "true", "TEAM_SERVICE_ACCOUNTS": json.dumps(TEAMS)},
        monkeypatch,
    )


def test_the_trigger_logs_pipeline_team_version_and_job_id(trigger_client, capsys):
    response = trigger_client.post("/", json={"pipeline": "training", "team": "forecasting"}, headers=FIRED)
    assert response.status_code == 200
    (line,) = lines(capsys)
    assert without_latency(line) == {
        "severity": "INFO",
        "message": "pipeline_trigger answered 200",
        "status": 200,
        "pipeline": "training",
        "version": "latest",
        "team": "forecasting",
        "job_id": response.get_json()["job_id"],
        "outcome": "dry_run",
    }
    assert line["job_id"].startswith("training-forecasting-20261122t030000-")


def test_the_trigger_logs_a_refused_body_with_its_field(trigger_client, capsys):
    assert trigger_client.post("/", json={"pipeline": "training", "team": "nobody"}).status_code == 400
    (line,) = lines(capsys)
    assert without_latency(line) == {
        "severity": "WARNING",
        "message": "pipeline_trigger answered 400",
        "status": 400,
        "error": '"nobody" is not a team of this environment; expected one of forecasting',
        "field": "team",
    }
