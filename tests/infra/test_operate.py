# ruff: noqa: E501 (the expected tables are compared line by line as printed)
"""make status / run-schedule / pause-schedule / resume-schedule / call / verify-deploy: the exact
requests the real client libraries send (REST transport, anonymous credentials, a local capture
server) and what is printed from recorded responses."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from environments.loading import REPO_ROOT, load_environment
from tests.http_capture import CapturedRequest, vertex_ai
from tests.support.environments import minimal, write_operated


@pytest.fixture(autouse=True)
def operated(environments_dir):
    """dev and prod as these tests know them (their recorded responses name these projects)."""
    return write_operated(environments_dir)


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


def test_verify_deploy_accepts_active_functions_on_their_sources_and_a_paused_schedule(google):
    from infra.operate import verify_deploy

    active_predict = PREDICT | {
        "state": "ACTIVE",
        "buildConfig": {"source": {"storageSource": {"object": SOURCES["predict"]}}},
    }
    answers = [
        *DEPLOYED[:1],
        ("GET", f"/v2{DEV}/functions/predict", active_predict),
        ("GET", f"/v1{DEV}/jobs/dev-daily-training", TRAINING | {"state": "PAUSED"}),
        DEPLOYED[3],
    ]
    with google(recorded(*answers)) as (server, clients):
        shown = verify_deploy(load_environment("dev"), clients, sources=SOURCES)
    assert shown.splitlines() == [
        "function pipeline-trigger: ACTIVE on functions/pipeline_trigger-1111aaaa2222bbbb.zip",
        "function predict: ACTIVE on functions/predict-3333cccc4444dddd.zip",
        "schedule dev-daily-training: PAUSED deliberately (accepted), calls the trigger as " + INVOKER,
        "schedule dev-daily-monitoring: ENABLED, calls the trigger as " + INVOKER,
        "verified dev: 4 resources as applied",
    ]
    assert sent(server) == [(method, path) for method, path, _ in DEPLOYED]


def test_verify_deploy_fails_naming_a_function_on_another_source_and_a_job_aimed_elsewhere(google):
    from infra.operate import VerificationFailed, verify_deploy

    stale = PREDICT | {"state": "ACTIVE"}  # runs functions/predict-0000aaaa0000bbbb.zip
    elsewhere = MONITORING | {
        "httpTarget": {"uri": TRIGGER_URL, "oidcToken": {"serviceAccountEmail": INVOKER, "audience": "https://x"}}
    }
    answers = [*DEPLOYED[:1], ("GET", f"/v2{DEV}/functions/predict", stale), DEPLOYED[2]]
    answers += [("GET", f"/v1{DEV}/jobs/dev-daily-monitoring", elsewhere)]
    with google(recorded(*answers)) as (_, clients), pytest.raises(VerificationFailed) as failed:
        verify_deploy(load_environment("dev"), clients, sources=SOURCES)
    assert failed.value.problems == [
        "function predict: runs functions/predict-0000aaaa0000bbbb.zip, expected "
        "functions/predict-3333cccc4444dddd.zip (synthesized from this commit)",
        "schedule dev-daily-monitoring: OIDC audience is https://x, expected https://pipeline-trigger-abc123-ew.a.run.app",
    ]


def test_verify_deploy_fails_on_a_function_not_active_and_a_missing_job(google):
    from infra.operate import VerificationFailed, verify_deploy

    with google(recorded(*DEPLOYED[:3])) as (_, clients), pytest.raises(VerificationFailed) as failed:
        verify_deploy(load_environment("dev"), clients, sources=SOURCES)
    assert failed.value.problems == [
        "function predict: state FAILED, expected ACTIVE",
        "schedule dev-daily-monitoring: state MISSING, expected ENABLED (or PAUSED)",
    ]


@pytest.mark.parametrize(
    ("operation", "verb", "answer", "printed"),
    [
        (
            "run_schedule",
            "run",
            TRAINING,
            "dev-daily-training: started now; `make status ENV=dev` shows the attempt and its run",
        ),
        (
            "pause_schedule",
            "pause",
            TRAINING | {"state": "PAUSED"},
            "dev-daily-training: PAUSED; applies leave it paused until "
            "`make resume-schedule ENV=dev NAME=daily-training`",
        ),
        ("resume_schedule", "resume", TRAINING, "dev-daily-training: ENABLED (0 3 * * *, Europe/London)"),
    ],
)
def test_schedule_operations_send_one_request_to_the_named_job(google, operation, verb, answer, printed):
    import infra.operate

    environment = load_environment("dev")
    schedule = infra.operate.find_schedule(environment, "daily-training")
    path = f"/v1{DEV}/jobs/dev-daily-training:{verb}"
    with google(recorded(("POST", path, answer))) as (server, clients):
        assert getattr(infra.operate, operation)(environment, schedule, clients) == printed
    (request,) = server.requests
    assert (request.method, request.path, request.json()) == ("POST", path, {})


def test_a_team_schedule_is_named_team_then_schedule_and_its_job_carries_the_environment(environments_dir):
    from infra.operate import find_schedule

    (environments_dir / "teams").mkdir()
    (environments_dir / "teams" / "forecasting.yaml").write_text(
        "name: forecasting\nowners: [group:f@example.com]\nenvironments: [dev]\n"
        'schedules:\n  - {name: weekly, cron: "0 4 * * 1", pipeline: training}\n'
    )
    schedule = find_schedule(load_environment("dev"), "forecasting-weekly")
    assert (schedule.job_id, schedule.team) == ("dev-forecasting-weekly", "forecasting")


def test_call_posts_the_body_with_an_identity_token_for_the_functions_url(google, monkeypatch):
    import infra.operate

    monkeypatch.setattr(infra.operate, "identity_token", lambda audience, credentials: f"token-for-{audience}")

    def respond(request: CapturedRequest):
        if request.method == "GET":
            return recorded(("GET", f"/v2{DEV}/functions/predict", PREDICT | {"serviceConfig": {"uri": url}}))(request)
        return 400, {"error": "history: at least 9 days of periods", "field": "history"}

    with google(respond) as (server, clients):
        url = f"{server.url}/"
        status, printed = infra.operate.call_function(load_environment("dev"), "predict", b'{"history": []}', clients)
    assert status == 400
    assert printed == (
        f"POST {url} -> 400 Bad Request\n" + '{"error": "history: at least 9 days of periods", "field": "history"}'
    )
    lookup, call = server.requests
    assert (lookup.method, lookup.path) == ("GET", f"/v2{DEV}/functions/predict")
    assert (call.method, call.path, call.body) == ("POST", "/", b'{"history": []}')
    assert call.headers["authorization"] == f"Bearer token-for-{url}"
    assert call.headers["content-type"] == "application/json"


def test_user_credentials_are_told_how_to_get_an_identity_token(monkeypatch):
    from google.oauth2.credentials import Credentials

    from environments.credentials import MissingPrerequisite
    from infra.operate import identity_token

    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)
    monkeypatch.setenv("GCE_METADATA_IP", "127.0.0.1:9")  # no metadata server: connection refused
    monkeypatch.setenv("GCE_METADATA_HOST", "127.0.0.1:9")
    with pytest.raises(MissingPrerequisite) as refused:
        identity_token("https://predict-abc123-ew.a.run.app", Credentials(token="user-token"))
    assert str(refused.value) == (
        "these credentials cannot mint an identity token for https://predict-abc123-ew.a.run.app; run `gcloud auth "
        "application-default login --impersonate-service-account=<an account allowed to invoke it>`, set "
        "GOOGLE_APPLICATION_CREDENTIALS to such an account's key, or call it yourself with "
        '`curl -H "Authorization: Bearer $(gcloud auth print-identity-token)" -d @body.json '
        "https://predict-abc123-ew.a.run.app`"
    )


def run_operate(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("GOOGLE_", "CLOUDSDK_"))}
    return subprocess.run(
        [sys.executable, "-m", "infra.operate", *args],
        cwd=REPO_ROOT,
        env=environ | env,
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["run-schedule", "--env", "dev", "--name", "hourly"],
            "NAME: 'hourly' is not a schedule of dev; expected one of daily-monitoring, daily-training\n",
        ),
        (["pause-schedule", "--env", "prod"], "NAME: required; expected one of daily-monitoring, daily-training\n"),
        (
            ["call", "--env", "dev", "--function", "train"],
            "FUNCTION: 'train' is not a function; expected one of pipeline_trigger, predict\n",
        ),
        (
            ["call", "--env", "dev", "--function", "predict", "--body", '{"history": [secret'],
            "BODY: not JSON (Expecting value at line 1, column 14); expected e.g. BODY='{}'\n",
        ),
        (
            ["status", "--env", "dev"],
            "status dev: no Google Cloud credentials found; run `gcloud auth application-default login` (with access "
            "to project acme-mlops-dev), set GOOGLE_APPLICATION_CREDENTIALS, or run in Cloud Build\n",
        ),
    ],
)
def test_usage_errors_and_missing_credentials_exit_2_before_any_call(tmp_path: Path, args, message):
    result = run_operate(*args, HOME=str(tmp_path), NO_GCE_CHECK="True")
    assert (result.returncode, result.stderr, result.stdout) == (2, message, "")


def test_schedule_jobs_leave_paused_to_the_operator(fixture_stacks):
    jobs = [
        job
        for stack in fixture_stacks.values()
        for job in stack["resource"].get("google_cloud_scheduler_job", {}).values()
    ]
    assert sorted(job["name"] for job in jobs) == [
        "everything-forecasting-weekly",
        "everything-nightly",
        "teams-forecasting-weekly",
    ]
    for job in jobs:
        assert job["lifecycle"] == {"ignore_changes": ["paused"]}
        assert "paused" not in job


def test_the_expected_source_objects_are_the_ones_synth_uploads(fixture_stacks):
    from infra.deployed import FUNCTIONS, expected_source_object

    uploaded = sorted(o["name"] for o in fixture_stacks["nothing"]["resource"]["google_storage_bucket_object"].values())
    assert uploaded == sorted(expected_source_object(function) for function in FUNCTIONS)
    assert [name.split("-")[0] for name in uploaded] == ["functions/pipeline_trigger", "functions/predict"]


@pytest.mark.parametrize(
    ("module", "args", "where"),
    [
        ("infra.operate", ["status", "--env", "dev"], "status dev"),
        ("tools.dashboard.image", ["--env", "dash"], "wait-dashboard-image dash"),
        ("pipelines.ops.cli", ["publish", "--env", "dev"], "publish-pipelines dev"),
        ("pipelines.ops.cli", ["run", "training", "--env", "dev"], "run-pipeline dev"),
        ("infra.terraform", ["bootstrap", "--env", "dev"], "bootstrap dev"),
    ],
)
def test_credentials_that_cannot_be_refreshed_are_refused_in_one_line(
    environments_dir: Path, tmp_path: Path, module, args, where
):
    """A login that expired, was revoked or cannot reach Google's token endpoint: google.auth raises
    at the first call, which used to end in a traceback."""
    (environments_dir / "dash.yaml").write_text(minimal("dash", extra="dashboard: {viewers: [user:ana@example.com]}\n"))
    login = tmp_path / "adc.json"
    login.write_text(
        json.dumps(
            {
                "type": "authorized_user",
                "client_id": "x.apps.googleusercontent.com",
                "client_secret": "secret",
                "refresh_token": "expired",
                "token_uri": "http://127.0.0.1:9/token",  # nothing listens: the refresh fails at once
            }
        )
    )
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("GOOGLE_", "CLOUDSDK_"))}
    result = subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=REPO_ROOT,
        env=environ | {"GOOGLE_APPLICATION_CREDENTIALS": str(login), "HOME": str(tmp_path), "PATH": os.environ["PATH"]},
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 2, result.stderr[-2000:]
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"{where}: " if where else "the Google Cloud credentials")
    assert "the Google Cloud credentials could not be used (" in line
    assert line.endswith("run `gcloud auth application-default login` again, or check this machine's network")
