# ruff: noqa: E501 (the expected tables are compared line by line as printed)
"""make status / run-schedule / pause-schedule / resume-schedule / call / verify-deploy: the exact
requests the real client libraries send (REST transport, anonymous credentials, a local capture
server) and what is printed from recorded responses."""

from __future__ import annotations

import pytest

from environments.config import load_environment
from tests.http_capture import CapturedRequest, vertex_ai

DEV = "/projects/acme-mlops-dev/locations/europe-west1"
TRIGGER_URL = "https://pipeline-trigger-abc123-ew.a.run.app"
INVOKER = "scheduler-invoker@acme-mlops-dev.iam.gserviceaccount.com"
# What synth would upload for this checkout (literal: the real names change with every code change).
SOURCES = {
    "pipeline_trigger": "functions/pipeline_trigger-1111aaaa2222bbbb.zip",
    "predict": "functions/predict-3333cccc4444dddd.zip",
}


def function(name: str, state: str, source: str, revision: str, url: str) -> dict:
    return {
        "name": f"{DEV[1:]}/functions/{name}",
        "state": state,
        "buildConfig": {"source": {"storageSource": {"bucket": "acme-mlops-dev-function-sources", "object": source}}},
        "serviceConfig": {"uri": url, "revision": revision},
    }


def job(name: str, cron: str, state: str = "ENABLED", **fields) -> dict:
    return {
        "name": f"{DEV[1:]}/jobs/{name}",
        "schedule": cron,
        "timeZone": "Europe/London",
        "state": state,
        "httpTarget": {
            "uri": TRIGGER_URL,
            "httpMethod": "POST",
            "oidcToken": {"serviceAccountEmail": INVOKER, "audience": TRIGGER_URL},
        },
    } | fields


def run(job_id: str, state: str, start: str, end: str | None = None, team: str | None = None) -> dict:
    labels = {"env": "dev", "managed-by": "mlops-platform", "pipeline": job_id.split("-")[0], "trigger": "scheduler"}
    return {
        "name": f"{DEV[1:]}/pipelineJobs/{job_id}",
        "displayName": job_id.split("-")[0],
        "state": state,
        "labels": labels | ({"team": team} if team else {}),
        "createTime": start,
        "startTime": start,
        **({"endTime": end} if end else {}),
    }


TRIGGER = function("pipeline-trigger", "ACTIVE", SOURCES["pipeline_trigger"], "pipeline-trigger-00004-xuz", TRIGGER_URL)
PREDICT = function(
    "predict",
    "FAILED",
    "functions/predict-0000aaaa0000bbbb.zip",
    "predict-00002-kip",
    "https://predict-abc123-ew.a.run.app",
)
TRAINING = job("dev-daily-training", "0 3 * * *", lastAttemptTime="2025-06-02T02:00:03.512Z", status={})
MONITORING = job(
    "dev-daily-monitoring",
    "30 6 * * *",
    lastAttemptTime="2025-06-02T05:30:04Z",
    status={"code": 13, "message": "HTTP 500 from the target"},
)
RUNS = [
    run("monitoring-platform-20250602t053000-ef56", "PIPELINE_STATE_RUNNING", "2025-06-02T05:30:12Z"),
    run(
        "training-platform-20250602t020000-ab12",
        "PIPELINE_STATE_SUCCEEDED",
        "2025-06-02T02:00:10Z",
        "2025-06-02T02:14:52Z",
    ),
    run(
        "training-forecasting-20250602t010000-aa11",
        "PIPELINE_STATE_SUCCEEDED",
        "2025-06-02T01:00:05Z",
        "2025-06-02T02:01:15Z",
        "forecasting",
    ),
    run(
        "training-platform-20250601t020000-cd34",
        "PIPELINE_STATE_FAILED",
        "2025-06-01T02:00:09Z",
        "2025-06-01T02:03:01Z",
    ),
    run(
        "training-platform-20250531t020000-gh78",
        "PIPELINE_STATE_SUCCEEDED",
        "2025-05-31T02:00:11Z",
        "2025-05-31T02:15:40Z",
    ),
    run(
        "training-platform-20250530t020000-ij90",
        "PIPELINE_STATE_SUCCEEDED",
        "2025-05-30T02:00:08Z",
        "2025-05-30T02:13:20Z",
    ),
]
CHAMPION = {
    "name": f"{DEV[1:]}/models/forecaster",
    "displayName": "forecaster",
    "versionId": "7",
    "artifactUri": "gs://acme-mlops-dev-models/forecaster/20250602T021400-1a2b3c4d",
    "versionDescription": '{"mae": 355.9}',
    "versionCreateTime": "2025-06-02T02:14:40Z",
}


def recorded(*answers: tuple[str, str, dict]):
    """Answer (method, path) with a recorded response; anything else gets 404."""
    table = {(method, path): body for method, path, body in answers}

    def respond(request: CapturedRequest):
        body = table.get((request.method, request.path))
        return (200, body) if body is not None else None

    return respond


DEPLOYED = [
    ("GET", f"/v2{DEV}/functions/pipeline-trigger", TRIGGER),
    ("GET", f"/v2{DEV}/functions/predict", PREDICT),
    ("GET", f"/v1{DEV}/jobs/dev-daily-training", TRAINING),
    ("GET", f"/v1{DEV}/jobs/dev-daily-monitoring", MONITORING),
]


@pytest.fixture
def google(monkeypatch):
    """Every client of infra.operate pointed at one capture server, anonymous."""
    from contextlib import contextmanager

    from google.auth.credentials import AnonymousCredentials

    from infra.operate import Google

    @contextmanager
    def serve(respond):
        with vertex_ai(respond, monkeypatch) as server:
            yield server, Google(AnonymousCredentials(), server.url)

    return serve


def sent(server) -> list[tuple[str, str]]:
    return [(r.method, r.path) for r in server.requests]


def test_status_shows_functions_schedules_runs_and_the_champion(google):
    from infra.operate import status

    answers = [
        *DEPLOYED,
        ("GET", f"/v1{DEV}/pipelineJobs", {"pipelineJobs": RUNS[::-1]}),
        ("GET", f"/v1{DEV}/models/forecaster%40champion", CHAMPION),
    ]
    with google(recorded(*answers)) as (server, clients):
        shown = status(load_environment("dev"), clients, sources=SOURCES)
    assert shown == "\n".join(
        [
            "dev: project acme-mlops-dev, region europe-west1",
            "",
            "functions",
            "  function          state   revision                    url                                           source object",
            "  pipeline-trigger  ACTIVE  pipeline-trigger-00004-xuz  https://pipeline-trigger-abc123-ew.a.run.app  functions/pipeline_trigger-1111aaaa2222bbbb.zip (as synthesized)",
            "  predict           FAILED  predict-00002-kip           https://predict-abc123-ew.a.run.app           functions/predict-0000aaaa0000bbbb.zip (synth: functions/predict-3333cccc4444dddd.zip)",
            "",
            "schedules",
            "  schedule          job                   state    cron        time zone      last attempt             last status",
            "  daily-training    dev-daily-training    ENABLED  0 3 * * *   Europe/London  2025-06-02 02:00:03 UTC  OK",
            "  daily-monitoring  dev-daily-monitoring  ENABLED  30 6 * * *  Europe/London  2025-06-02 05:30:04 UTC  INTERNAL (13): HTTP 500 from the target",
            "",
            "pipeline runs (latest 3 per pipeline, label env=dev)",
            "  pipeline    team         run                                        state      started                  duration",
            "  monitoring  -            monitoring-platform-20250602t053000-ef56   RUNNING    2025-06-02 05:30:12 UTC  -",
            "  training    -            training-platform-20250602t020000-ab12     SUCCEEDED  2025-06-02 02:00:10 UTC  14m42s",
            "  training    -            training-platform-20250601t020000-cd34     FAILED     2025-06-01 02:00:09 UTC  2m52s",
            "  training    -            training-platform-20250531t020000-gh78     SUCCEEDED  2025-05-31 02:00:11 UTC  15m29s",
            "  training    forecasting  training-forecasting-20250602t010000-aa11  SUCCEEDED  2025-06-02 01:00:05 UTC  1h01m10s",
            "",
            "champion: version 7 of vertex://acme-mlops-dev/europe-west1/forecaster (registered 2025-06-02T02:14:40+00:00)",
        ]
    )
    assert sent(server) == [
        ("GET", f"/v2{DEV}/functions/pipeline-trigger"),
        ("GET", f"/v2{DEV}/functions/predict"),
        ("GET", f"/v1{DEV}/jobs/dev-daily-training"),
        ("GET", f"/v1{DEV}/jobs/dev-daily-monitoring"),
        ("GET", f"/v1{DEV}/pipelineJobs"),
        ("GET", f"/v1{DEV}/models/forecaster%40champion"),
    ]
    listing = server.requests[4]  # in any order: the library sorts by create time itself
    assert listing.query["filter"] == ['labels.env="dev"']


def test_status_marks_what_is_missing_and_a_job_never_attempted(google):
    from infra.operate import status

    never = job("dev-daily-training", "0 3 * * *", state="PAUSED")
    answers = [
        ("GET", f"/v2{DEV}/functions/pipeline-trigger", TRIGGER),
        ("GET", f"/v1{DEV}/jobs/dev-daily-training", never),
        ("GET", f"/v1{DEV}/pipelineJobs", {}),
    ]
    with google(recorded(*answers)) as (_, clients):
        shown = status(load_environment("dev"), clients, sources=SOURCES).splitlines()
    assert (
        shown[5]
        == "  predict           MISSING  -                           -                                             - (synth: functions/predict-3333cccc4444dddd.zip)"
    )
    assert shown[9:11] == [
        "  daily-training    dev-daily-training    PAUSED   0 3 * * *  Europe/London  never         -",
        "  daily-monitoring  dev-daily-monitoring  MISSING  -          -              -             -",
    ]
    assert shown[12:] == [
        "pipeline runs (latest 3 per pipeline, label env=dev)",
        "  none",
        "",
        "champion: none yet in vertex://acme-mlops-dev/europe-west1/forecaster",
    ]
