"""pipeline_trigger: validation first (400 with field), the exact Vertex request, and exactly one
run per scheduled firing however often Cloud Scheduler redelivers it."""

from __future__ import annotations

import json

import pytest
import requests
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.http_capture import created_pipeline_job, vertex_ai
from tests.support.functions import FIRED, TEAMS, json_values, make_app, raw_answer, serve


@pytest.fixture
def dry_client(templates, monkeypatch):
    return make_app(
        "pipeline_trigger",
        {"TEMPLATE_REPOSITORY": str(templates), "DRY_RUN": "true", "TEAM_SERVICE_ACCOUNTS": json.dumps(TEAMS)},
        monkeypatch,
    )


def test_dry_run_answers_with_the_request_it_would_send(dry_client):
    response = dry_client.post("/", json={"pipeline": "training", "parameters": {"holdout_days": 14}}, headers=FIRED)
    assert response.status_code == 200
    result = response.get_json()
    assert result["status"] == "dry_run"
    assert result["job_id"].startswith("training-platform-20261122t030000-")
    body = result["request"]["body"]
    assert body["serviceAccount"] == "pipelines-runner@acme-mlops-dev.iam.gserviceaccount.com"
    assert body["runtimeConfig"]["gcsOutputDirectory"] == "gs://acme-mlops-dev-pipeline-root"
    assert body["runtimeConfig"]["parameterValues"] == {
        "holdout_days": 14.0,
        "registry_uri": "vertex://acme-mlops-dev/europe-west1/forecaster",
        "experiment": "forecaster",
    }
    assert body["labels"] == {
        "cost-center": "ml-platform",
        "env": "dev",
        "managed-by": "mlops-platform",
        "pipeline": "training",
        "trigger": "scheduler",
    }


def test_a_team_run_uses_the_team_account_and_label(dry_client):
    result = dry_client.post("/", json={"pipeline": "monitoring", "team": "forecasting"}, headers=FIRED).get_json()
    assert result["job_id"].startswith("monitoring-forecasting-")
    assert result["request"]["body"]["serviceAccount"] == TEAMS["forecasting"]
    assert result["request"]["body"]["labels"]["team"] == "forecasting"
    root = result["request"]["body"]["runtimeConfig"]["gcsOutputDirectory"]
    assert root == "gs://acme-mlops-dev-pipeline-root/teams/forecasting"


def test_job_id_is_stable_per_firing_and_differs_between_firings(dry_client):
    first = dry_client.post("/", json={"pipeline": "training"}, headers=FIRED).get_json()["job_id"]
    again = dry_client.post("/", json={"pipeline": "training"}, headers=FIRED).get_json()["job_id"]
    later = dry_client.post(
        "/", json={"pipeline": "training"}, headers={"X-CloudScheduler-ScheduleTime": "2026-11-23T03:00:00Z"}
    ).get_json()["job_id"]
    assert first == again != later


@pytest.mark.parametrize(
    ("body", "headers", "status", "field", "error"),
    [
        (
            "{",
            FIRED,
            400,
            "body",
            "body is not valid JSON: Expecting property name enclosed in double quotes: line 1 column 2 (char 1)",
        ),
        ("[]", FIRED, 400, "body", "expected a JSON object with keys pipeline, version, parameters, team"),
        (
            {"pipeline": "training", "when": "now"},
            FIRED,
            400,
            "when",
            "unknown key 'when'; expected pipeline, version, parameters, team",
        ),
        ({}, FIRED, 400, "pipeline", "missing; expected one of training, prediction, monitoring, daily"),
        (
            {"pipeline": "scoring"},
            FIRED,
            400,
            "pipeline",
            '"scoring" is not a pipeline; expected one of training, prediction, monitoring, daily',
        ),
        (
            {"pipeline": "training", "version": "../x"},
            FIRED,
            400,
            "version",
            '"../x" is not a template tag; expected e.g. latest or v1.2.0',
        ),
        (
            {"pipeline": "training", "team": "ghosts"},
            FIRED,
            400,
            "team",
            '"ghosts" is not a team of this environment; expected one of forecasting',
        ),
        (
            {"pipeline": "training", "version": "v1\n"},
            FIRED,
            400,
            "version",
            '"v1\\n" is not a template tag; expected e.g. latest or v1.2.0',
        ),
        (
            {"pipeline": "training", "parameters": [1]},
            FIRED,
            400,
            "parameters",
            "expected a JSON object of pipeline parameters",
        ),
        (
            {"pipeline": "training", "parameters": {"holdout": 2}},
            FIRED,
            400,
            "parameters.holdout",
            "unknown parameter 'holdout'; expected one of data_spec, experiment, holdout_days, metric, "
            "model_params, promotion_margin, registry_uri, source",
        ),
        (
            {"pipeline": "prediction", "parameters": {"horizon": "soon"}},
            FIRED,
            400,
            "parameters.horizon",
            '"soon" is a string; expected an integer',
        ),
        (
            {"pipeline": "training", "parameters": {"source": "x" * 20_000}},
            FIRED,
            400,
            "parameters.source",
            "value is 20002 characters; expected at most 10000 characters",
        ),
        (
            {"pipeline": "training"},
            {},
            400,
            "X-CloudScheduler-ScheduleTime",
            "missing; expected the header Cloud Scheduler sends (or X-Request-Id) so that a redelivered request "
            "never starts a second run",
        ),
        (
            {"pipeline": "training"},
            {"X-CloudScheduler-ScheduleTime": "tomorrow"},
            400,
            "X-CloudScheduler-ScheduleTime",
            "'tomorrow' is not an RFC 3339 time",
        ),
    ],
)
def test_bad_requests_get_400_with_field_and_message(dry_client, body, headers, status, field, error):
    data = body if isinstance(body, str) else json.dumps(body)
    response = dry_client.post("/", data=data, content_type="application/json", headers=headers)
    assert (response.status_code, response.get_json()) == (status, {"error": error, "field": field})


def test_oversized_body_and_wrong_method(dry_client):
    huge = dry_client.post("/", data="x" * 70_000, headers=FIRED)
    assert huge.status_code == 413 and huge.get_json()["field"] == "body"
    assert dry_client.get("/", headers=FIRED).status_code == 405


bad_bodies = st.one_of(
    json_values,
    st.fixed_dictionaries(
        {}, optional={"pipeline": json_values, "version": json_values, "parameters": json_values, "team": json_values}
    ),
    st.fixed_dictionaries(
        {
            "pipeline": st.sampled_from(["training", "prediction"]),
            "parameters": st.dictionaries(
                st.sampled_from(["horizon", "holdout_days", "source", "bogus"]), json_values, min_size=1
            ),
        }
    ),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=bad_bodies)
def test_generated_bodies_never_get_5xx(dry_client, body):
    response = dry_client.post("/", data=json.dumps(body), content_type="application/json", headers=FIRED)
    assert response.status_code < 500, response.get_data(as_text=True)
    if response.status_code != 200:
        assert set(response.get_json()) == {"error", "field"}


@pytest.fixture
def google_apis(templates, monkeypatch):
    """One local server standing in for the KFP repository (templates by tag) and Vertex AI
    (create answers 409 for a job id it has seen, as the real API does)."""
    from google.auth.credentials import AnonymousCredentials

    created: set[str] = set()
    jobs: dict[str, dict] = {}  # by resource name, as Vertex AI answers a GET

    def respond(request):
        parts = request.path.strip("/").split("/")
        if request.method == "GET" and len(parts) == 2 and parts[1] == "v3":
            return 200, yaml.safe_load((templates / f"{parts[0]}.yaml").read_text())
        if request.method == "GET" and "/pipelineJobs/" in request.path:
            name = request.path.removeprefix("/v1/")
            return (200, jobs[name]) if name in jobs else None
        answer = created_pipeline_job(request, created)
        if answer and answer[0] == 200:
            jobs[answer[1]["name"]] = answer[1]
        return answer

    monkeypatch.setattr("google.auth.default", lambda scopes=None: (AnonymousCredentials(), "acme-mlops-dev"))
    with vertex_ai(respond, monkeypatch) as server:
        server.jobs, server.created = jobs, created
        yield server


def test_submits_the_template_version_and_never_twice_for_one_firing(google_apis, monkeypatch, tmp_path):
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # where the downloaded templates go
    client = make_app("pipeline_trigger", {"TEMPLATE_REPOSITORY": google_apis.url, "DRY_RUN": "false"}, monkeypatch)
    body = {"pipeline": "prediction", "version": "v3", "parameters": {"horizon": 12}}
    first = client.post("/", json=body, headers=FIRED)
    again = client.post("/", json=body, headers=FIRED)

    assert first.status_code == 200 and first.get_json()["status"] == "submitted"
    assert again.status_code == 200
    assert again.get_json() == {"status": "already_submitted", "job_id": first.get_json()["job_id"]}
    downloads = [r for r in google_apis.requests if r.method == "GET" and not r.path.startswith("/v1/")]
    creates = [r for r in google_apis.requests if r.method == "POST"]
    assert [r.path for r in downloads] == ["/prediction/v3", "/prediction/v3"]
    (lookup,) = [r.path for r in google_apis.requests if r.method == "GET" and r.path.startswith("/v1/")]
    assert lookup == f"/v1/projects/acme-mlops-dev/locations/europe-west1/pipelineJobs/{first.get_json()['job_id']}", (
        "the redelivery checks that the existing job is its own"
    )
    assert len(creates) == 2 and creates[0].query == creates[1].query, "the redelivery asks for the same job id"
    sent = creates[0].json()
    assert creates[0].path == "/v1/projects/acme-mlops-dev/locations/europe-west1/pipelineJobs"
    assert sent["serviceAccount"] == "pipelines-runner@acme-mlops-dev.iam.gserviceaccount.com"
    assert sent["runtimeConfig"]["parameterValues"] == {
        "horizon": 12,
        "registry_uri": "vertex://acme-mlops-dev/europe-west1/forecaster",
    }
    assert sent["runtimeConfig"]["gcsOutputDirectory"] == "gs://acme-mlops-dev-pipeline-root"
    assert sent["labels"]["trigger"] == "scheduler" and sent["labels"]["pipeline"] == "prediction"
    assert sent["pipelineSpec"]["pipelineInfo"]["name"] == "prediction"
    assert list(tmp_path.iterdir()) == [], "each downloaded template is removed with its request (/tmp is memory)"


def test_unknown_template_version_is_404(google_apis, monkeypatch):
    client = make_app("pipeline_trigger", {"TEMPLATE_REPOSITORY": google_apis.url, "DRY_RUN": "false"}, monkeypatch)
    response = client.post("/", json={"pipeline": "training", "version": "v9"}, headers=FIRED)
    assert response.status_code == 404
    assert response.get_json() == {"error": "no template training:v9 in the KFP repository", "field": "version"}


def test_served_over_real_http_in_dry_run(templates):
    with serve("pipeline_trigger", {"TEMPLATE_REPOSITORY": str(templates)}) as url:
        ok = requests.post(url, json={"pipeline": "monitoring"}, headers=FIRED, timeout=30)
        assert ok.status_code == 200 and ok.json()["status"] == "dry_run"
        bad = requests.post(url, json={"pipeline": "nope"}, headers=FIRED, timeout=30)
        assert bad.status_code == 400 and bad.json()["field"] == "pipeline"
        # Answered before the body's end, at once: functions-framework would first read the 100 MB claimed.
        claimed = raw_answer(url, "POST", b"Content-Length: 100000000\r\n", b"{}")
        assert claimed == (413, {"error": "body is 100000000 bytes; expected at most 65536", "field": "body"})


def test_a_job_id_taken_by_another_job_is_a_409_naming_the_conflict(google_apis, monkeypatch):
    """Someone who computes the job id creates a job under it first (another account, another
    trigger label): the trigger must not answer already_submitted for a run it never started."""
    body = {"pipeline": "prediction", "version": "v3", "parameters": {"horizon": 12}}
    dry = make_app("pipeline_trigger", {"TEMPLATE_REPOSITORY": google_apis.url, "DRY_RUN": "true"}, monkeypatch).post(
        "/", json=body, headers=FIRED
    )
    job_id = dry.get_json()["job_id"]
    name = f"projects/acme-mlops-dev/locations/europe-west1/pipelineJobs/{job_id}"
    planted = dry.get_json()["request"]["body"] | {"name": name, "state": 2}
    planted["serviceAccount"] = "intruder@elsewhere.iam.gserviceaccount.com"
    planted["labels"] = planted["labels"] | {"trigger": "cli"}
    google_apis.jobs[name] = planted
    google_apis.created.add(job_id)

    client = make_app("pipeline_trigger", {"TEMPLATE_REPOSITORY": google_apis.url, "DRY_RUN": "false"}, monkeypatch)
    response = client.post("/", json=body, headers=FIRED)
    assert response.status_code == 409, response.get_json()
    assert response.get_json() == {
        "error": f"job {job_id} exists but was not started by this trigger for this request: labels is "
        '{"cost-center": "ml-platform", "env": "dev", "managed-by": "mlops-platform", "pipeline": "prediction", '
        '"trigger": "cli"}, expected {"cost-center": "ml-platform", "env": "dev", "managed-by": "mlops-platform", '
        '"pipeline": "prediction", "trigger": "scheduler"}; serviceAccount is '
        '"intruder@elsewhere.iam.gserviceaccount.com", expected '
        '"pipelines-runner@acme-mlops-dev.iam.gserviceaccount.com"',
        "field": "job_id",
    }


def test_job_ids_use_the_fire_time_in_utc(dry_client):
    utc = dry_client.post("/", json={"pipeline": "training"}, headers=FIRED).get_json()["job_id"]
    london = dry_client.post(
        "/", json={"pipeline": "training"}, headers={"X-CloudScheduler-ScheduleTime": "2026-11-22T04:00:00+01:00"}
    ).get_json()["job_id"]
    assert utc == london and utc.startswith("training-platform-20261122t030000-")
    naive = dry_client.post(
        "/", json={"pipeline": "training"}, headers={"X-CloudScheduler-ScheduleTime": "2026-11-22T03:00:00"}
    )
    assert naive.status_code == 400
    assert naive.get_json() == {
        "error": "'2026-11-22T03:00:00' has no UTC offset; expected RFC 3339",
        "field": "X-CloudScheduler-ScheduleTime",
    }


def test_request_ids_differing_in_case_or_punctuation_get_distinct_jobs(dry_client):
    ids = ["Run.1", "run.1", "run-1", "run_1", "run:1"]
    jobs = [
        dry_client.post("/", json={"pipeline": "training"}, headers={"X-Request-Id": i}).get_json()["job_id"]
        for i in ids
    ]
    assert len(set(jobs)) == len(ids)
    again = dry_client.post("/", json={"pipeline": "training"}, headers={"X-Request-Id": "Run.1"}).get_json()
    assert again["job_id"] == jobs[0]


@pytest.mark.parametrize(
    ("body", "field", "error"),
    [
        (
            {"pipeline": "training", "team": []},
            "team",
            "[] is not a team of this environment; expected one of forecasting",
        ),
        (
            {"pipeline": "training", "team": {}},
            "team",
            "{} is not a team of this environment; expected one of forecasting",
        ),
        (
            {"pipeline": "training", "version": "v1\n"},
            "version",
            '"v1\\n" is not a template tag; expected e.g. latest or v1.2.0',
        ),
        (
            {"pipeline": "training", "parameters": {"source": "gs://elsewhere/x.csv"}},
            "parameters.source",
            "\"gs://elsewhere/x.csv\" is outside this environment's data; expected 'reference' or "
            "gs://acme-mlops-dev-data/<path>",
        ),
        (
            {"pipeline": "training", "team": "forecasting", "parameters": {"holdout_days": 10**40}},
            "parameters.holdout_days",
            "1" + "0" * 40 + " is out of range; expected 2 to 60",
        ),
        (  # past the body's number limit, the parser refuses it before any parameter is looked at
            {"pipeline": "training", "team": "forecasting", "parameters": {"holdout_days": 10**400}},
            "body",
            "a number of 401 characters (10000000000000000000...); expected at most 100",
        ),
    ],
)
def test_unhashable_teams_newlines_and_outside_parameters_get_400(dry_client, body, field, error):
    response = dry_client.post("/", json=body, headers=FIRED)
    assert (response.status_code, response.get_json()) == (400, {"error": error, "field": field})


def test_a_daily_firing_runs_the_cycle_for_the_day_before_and_a_redelivery_is_the_same_job(dry_client):
    # As the scheduler job sends it (cycle_settings.daily_parameters): the served model's registry.
    parameters = {
        "source": "gs://acme-mlops-dev-data/incoming",
        "registry_uri": "vertex://acme-mlops-dev/europe-west1/forecaster",
    }
    body = {"pipeline": "daily", "parameters": parameters}
    first = dry_client.post("/", json=body, headers={"X-CloudScheduler-ScheduleTime": "2026-11-22T07:00:00+01:00"})
    again = dry_client.post("/", json=body, headers={"X-CloudScheduler-ScheduleTime": "2026-11-22T06:00:00Z"})
    assert first.status_code == again.status_code == 200
    assert first.get_json()["job_id"] == again.get_json()["job_id"]
    assert first.get_json()["job_id"].startswith("daily-platform-20261122t060000-")
    assert first.get_json()["request"]["body"]["runtimeConfig"]["parameterValues"] == {
        "day": "2026-11-21",
        "source": "gs://acme-mlops-dev-data/incoming",
        "registry_uri": "vertex://acme-mlops-dev/europe-west1/forecaster",
    }


def test_a_daily_run_outside_the_data_bucket_or_with_a_bad_day_gets_400(dry_client):
    outside = dry_client.post(
        "/", json={"pipeline": "daily", "parameters": {"source": "gs://elsewhere/x"}}, headers=FIRED
    )
    bad_day = dry_client.post("/", json={"pipeline": "daily", "parameters": {"day": "2026-02-30"}}, headers=FIRED)
    assert (outside.status_code, outside.get_json()["field"]) == (400, "parameters.source")
    assert bad_day.get_json() == {
        "error": '"2026-02-30" is not a day; expected YYYY-MM-DD, or empty for the day before the run',
        "field": "parameters.day",
    }


def test_the_cli_and_the_trigger_send_vertex_the_same_create_request(monkeypatch):
    """One way to submit: the same run through `make run-pipeline ENV=dev` and through the deployed
    trigger reaches Vertex AI (captured at the API) as the same create request: the template
    compiled on the environment's image, root, account, labels and parameters. Only the trigger
    label and the job id (the trigger derives it from the firing) differ."""
    from google.auth.credentials import AnonymousCredentials

    from pipelines.ops.cli import main

    published = {}  # the KFP repository: what the CLI compiled on the environment's image, as `make publish` does

    def respond(request):
        parts = request.path.strip("/").split("/")
        if request.method == "GET" and parts[1:] == ["latest"]:  # the repository's moving tag
            return 200, published[parts[0]]
        return created_pipeline_job(request)

    monkeypatch.setattr("google.auth.default", lambda scopes=None: (AnonymousCredentials(), "acme-mlops-dev"))
    monkeypatch.setattr("pipelines.ops.cli.google_credentials", lambda project: AnonymousCredentials())
    parameters = {"holdout_days": 14, "source": "gs://acme-mlops-dev-data/uk/load.csv"}
    with vertex_ai(respond, monkeypatch) as server:
        assert main(["run", "training", "--env", "dev", "--params", json.dumps(parameters)]) == 0
        published["training"] = server.requests[-1].json()["pipelineSpec"]
        client = make_app("pipeline_trigger", {"TEMPLATE_REPOSITORY": server.url, "DRY_RUN": "false"}, monkeypatch)
        answer = client.post("/", json={"pipeline": "training", "parameters": parameters}, headers=FIRED)
        assert answer.status_code == 200, answer.get_json()

    from_cli, from_trigger = [request for request in server.requests if request.method == "POST"]
    assert from_cli.path == from_trigger.path == "/v1/projects/acme-mlops-dev/locations/europe-west1/pipelineJobs"
    assert from_trigger.query.pop("pipelineJobId") == [answer.get_json()["job_id"]]
    assert from_cli.query.pop("pipelineJobId")[0].startswith("training-"), "the SDK names a CLI run by its time"
    assert from_cli.query == from_trigger.query
    cli_body, trigger_body = from_cli.json(), from_trigger.json()
    assert cli_body["labels"].pop("trigger") == "cli"
    assert trigger_body["labels"].pop("trigger") == "scheduler"
    assert cli_body == trigger_body
    assert cli_body["serviceAccount"] == "pipelines-runner@acme-mlops-dev.iam.gserviceaccount.com"
    assert cli_body["runtimeConfig"]["parameterValues"] == {
        "holdout_days": 14,
        "source": "gs://acme-mlops-dev-data/uk/load.csv",
        "registry_uri": "vertex://acme-mlops-dev/europe-west1/forecaster-ef027ac4-load",
        "experiment": "forecaster-ef027ac4-load",
    }
