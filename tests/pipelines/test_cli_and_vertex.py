"""The pipelines CLI: clear refusals of bad input, and the exact Vertex AI request — both the
dry-run print and what google-cloud-aiplatform really sends (captured at a local HTTP server)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import yaml

from environments.loading import REPO_ROOT, load_environment
from pipelines.ops.cli import compile_pipelines, main
from pipelines.ops.submission import prepare
from pipelines.ops.vertex import Target, pipeline_job
from tests.http_capture import created_pipeline_job, vertex_ai
from tests.support.environments import COMMITTED, NOT_AN_ENVIRONMENT


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pipelines.ops.cli", *args], cwd=REPO_ROOT, capture_output=True, text=True, check=False
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["run", "scoring"],
            "PIPELINE: 'scoring' is not a pipeline; expected one of training, prediction, monitoring, daily",
        ),
        (
            ["run", "training", "--params", '{"holdout_days": 3'],
            "PARAMS: not valid JSON: Expecting ',' delimiter at line 1, column 19",
        ),
        (
            ["run", "training", "--params", "[1, 2]"],
            """PARAMS: expected a JSON object such as '{"holdout_days": 7}', got list""",
        ),
        (
            ["run", "training", "--params", '{"holdout": 3}'],
            "PARAMS.holdout: unknown parameter 'holdout'; expected one of data_spec, experiment, holdout_days, "
            "metric, model_params, promotion_margin, registry_uri, source",
        ),
        (
            ["run", "prediction", "--params", '{"horizon": "tomorrow"}'],
            'PARAMS.horizon: "tomorrow" is a string; expected an integer',
        ),
        (
            ["run", "daily", "--params", '{"data_spec": {"target_column": "sales", "exogenous_columns": ["promo"]}}'],
            'PARAMS.data_spec.exogenous_columns: ["promo"]: the daily cycle forecasts from the target alone, and a '
            "day's source brings no values of the day ahead; expected none (a model with known-in-advance columns "
            "is trained and predicted with the training and prediction pipelines)",
        ),
        (["run", "training", "--dry-run"], "DRY_RUN: prints a Vertex AI request, so it needs ENV=<environment>"),
        (
            ["run", "training", "--env", NOT_AN_ENVIRONMENT],
            f"ENV: {NOT_AN_ENVIRONMENT!r} is not an environment; expected one of {', '.join(COMMITTED)}",
        ),
    ],
)
def test_bad_input_is_refused_with_one_clear_line(args, message):
    result = run_cli(*args)
    assert result.returncode == 2
    assert result.stderr == message + "\n"
    assert result.stdout == ""


def test_dry_run_prints_the_exact_vertex_request(capsys, monkeypatch):
    monkeypatch.setenv("IMAGE_TAG", "abc123")
    assert main(["run", "training", "--env", "prod", "--dry-run", "--params", '{"holdout_days": 14}']) == 0
    request = json.loads(capsys.readouterr().out)
    assert request["url"] == (
        "https://europe-west1-aiplatform.googleapis.com/v1/projects/acme-mlops-prod/locations/europe-west1/pipelineJobs"
    )
    body = request["body"]
    assert body["serviceAccount"] == "pipelines-runner@acme-mlops-prod.iam.gserviceaccount.com"
    assert body["runtimeConfig"]["gcsOutputDirectory"] == "gs://acme-mlops-prod-pipeline-root"
    assert body["runtimeConfig"]["parameterValues"] == {
        "holdout_days": 14.0,
        "registry_uri": "vertex://acme-mlops-prod/europe-west1/forecaster",
        "experiment": "forecaster",
    }
    assert body["labels"] == {
        "cost-center": "ml-platform",
        "env": "prod",
        "managed-by": "mlops-platform",
        "pipeline": "training",
        "trigger": "cli",
    }
    assert body["encryptionSpec"]["kmsKeyName"].endswith("/keyRings/prod-platform/cryptoKeys/prod-platform")
    images = {e["container"]["image"] for e in body["pipelineSpec"]["deploymentSpec"]["executors"].values()}
    assert images == {"europe-west1-docker.pkg.dev/acme-mlops-prod/containers/python-components:abc123"}


@pytest.fixture
def vertex_api(monkeypatch):
    """A local stand-in for the Vertex AI API: captures requests, echoes the created job."""
    with vertex_ai(created_pipeline_job, monkeypatch) as server:
        yield server


def test_submission_sends_template_root_account_labels_and_parameters(vertex_api, tmp_path):
    dev = load_environment("dev")
    target = Target.of(dev, team_accounts={"forecasting": "team-forecasting@acme-mlops-dev.iam.gserviceaccount.com"})
    template = compile_pipelines(dev, tmp_path)["prediction"]
    submission = prepare(
        target,
        "prediction",
        {"horizon": 24},
        team="forecasting",
        trigger="test",
        template=yaml.safe_load(template.read_text()),
    )
    job = pipeline_job(target, submission, str(template), job_id="prediction-20261122-0300")
    job.submit(service_account=submission.service_account)

    (request,) = vertex_api.requests
    assert (request.method, request.path) == ("POST", "/v1/projects/acme-mlops-dev/locations/europe-west1/pipelineJobs")
    assert request.query["pipelineJobId"] == ["prediction-20261122-0300"]
    body = request.json()
    compiled = yaml.safe_load(template.read_text())
    assert body["pipelineSpec"]["deploymentSpec"] == compiled["deploymentSpec"]
    tasks = body["pipelineSpec"]["root"]["dag"]["tasks"]
    assert sorted(tasks) == sorted(compiled["root"]["dag"]["tasks"])
    assert {task["cachingOptions"]["enableCache"] for task in tasks.values()} == {False}, "no step is reused"
    assert body["runtimeConfig"]["gcsOutputDirectory"] == "gs://acme-mlops-dev-pipeline-root/teams/forecasting"
    assert body["runtimeConfig"]["parameterValues"] == {
        "registry_uri": "vertex://acme-mlops-dev/europe-west1/forecaster-team-forecasting",
        "horizon": 24,
    }
    assert body["serviceAccount"] == "team-forecasting@acme-mlops-dev.iam.gserviceaccount.com"
    assert body["labels"] == {
        "cost-center": "ml-platform",
        "env": "dev",
        "managed-by": "mlops-platform",
        "team": "forecasting",
        "pipeline": "prediction",
        "trigger": "test",
    }
    assert "encryptionSpec" not in body, "dev runs without CMEK"
    assert job.resource_name == "projects/acme-mlops-dev/locations/europe-west1/pipelineJobs/prediction-20261122-0300"


def test_a_submission_vertex_ai_refuses_is_told_in_one_line(monkeypatch, capsys):
    """Vertex AI's refusal (here a missing permission, answered by a local stand-in through the
    real client) is the target's one line, with the code and Google's message, and no traceback."""
    from google.auth.credentials import AnonymousCredentials

    from pipelines.ops import cli

    def forbidden(request):
        message = "Permission 'aiplatform.pipelineJobs.create' denied on resource"
        return 403, {"error": {"code": 403, "message": message, "status": "PERMISSION_DENIED"}}

    monkeypatch.setattr(cli, "google_credentials", lambda project_id: AnonymousCredentials())
    monkeypatch.setattr(cli, "components_image", lambda environment: "europe-west1-docker.pkg.dev/x/y/z:t")
    with vertex_ai(forbidden, monkeypatch) as server:
        assert main(["run", "training", "--env", "dev"]) == 1
    assert [request.method for request in server.requests] == ["POST"]
    captured = capsys.readouterr()
    (line,) = captured.err.splitlines()  # over REST, Google's message follows the request's method and URL
    assert line.startswith("run-pipeline dev: 403 POST ")
    assert line.endswith(": Permission 'aiplatform.pipelineJobs.create' denied on resource")
    assert captured.out == ""


@pytest.mark.parametrize("held_before", [set(), {"1"}])
def test_a_local_run_summary_says_when_it_registered_nothing(tmp_path, held_before):
    """A training run whose artifacts a version already holds registers nothing: the summary says
    so, and shows that version's gate decision as the one made when it was registered."""
    from pipelines.logic.registry import open_registry
    from pipelines.ops.cli import summary

    artifacts = tmp_path / "artifacts"
    artifacts.mkdir()
    (artifacts / "forecaster.json").write_text("{}")
    metrics = {
        "holdout": {"mae": 14.0, "coverage_80": 81.5, "fit_seconds": 1.5},
        "baseline": {"mae": 18.8, "coverage_80": 77.25, "fit_seconds": 0.0},
        "promoted": True,
        "reason": "no champion yet",
    }
    open_registry(str(tmp_path / "registry")).register(artifacts, metrics, promote=True)
    result = {
        "pipeline": "training",
        "parameters": {"registry_uri": str(tmp_path / "registry")},
        "output": "1",
        "log": str(tmp_path / "run.log"),
        "steps": [],
        "held_before": held_before,
    }
    lines = summary(result)
    if held_before:
        assert lines[0].endswith("(unchanged: this run trained the artifacts it holds; nothing was registered)")
        assert lines[4] == "gate (when version 1 was registered): promoted: no champion yet"
    else:
        assert lines[0] == f"version: 1 in {tmp_path / 'registry'}"
        assert lines[4] == "gate: promoted: no champion yet"
    # The numbers line up whatever the metric names' lengths.
    # A fit time stands alone: the naive rules are not fitted.
    assert lines[1:4] == [
        "  mae              14.00  (baseline 18.80)",
        "  coverage_80      81.50  (baseline 77.25)",
        "  fit_seconds       1.50  (CPU seconds per backtest fold)",
    ]


def test_a_local_daily_run_summary_says_what_the_day_did_and_why_not(tmp_path):
    from pipelines.ops.cli import summary

    report = {
        "day": "2000-08-01",
        "champion": "1",
        "check": {"reason": "no scored days yet", "retrain": False},
        "retraining": {"day": "2000-08-01", "retrained": False},
        "forecast": {"origin": "2000-08-01", "forecast": False, "reason": "only 48 periods of history"},
    }
    result = {
        "pipeline": "daily",
        "parameters": {"registry_uri": str(tmp_path / "registry")},
        "output": json.dumps(report),
        "log": str(tmp_path / "run.log"),
        "steps": [],
    }
    lines = summary(result)
    assert lines[:3] == [
        "day 2000-08-01: champion version 1",
        "check: no scored days yet",
        "no forecast of the next day: only 48 periods of history",
    ]
    assert lines[3].startswith("cycle store: build/cycle/registry-")  # a registry outside build/registry
    report["retraining"] = {"day": "2000-08-01", "retrained": True, "version": "2", "reason": "beats champion"}
    report["forecast"] = {"origin": "2000-08-01", "forecast": True, "model_version": "2", "already": False}
    assert summary(result | {"output": json.dumps(report)})[2:4] == [
        "retrained: version 2: beats champion",
        "forecast of the next day: version 2",
    ]


def test_a_local_monitoring_run_summary_says_what_drifted_and_what_it_did(tmp_path):
    from pipelines.ops.cli import summary

    task = tmp_path / "monitoring-1" / "detect-drift"
    task.mkdir(parents=True)
    (task / "report").write_text("<html></html>")
    changes = {"sales": 0.01, "temperature": 0.02, "promo": 0.279}  # the target first, as DriftResult.json writes
    drift = {"share": 1 / 3, "drifted": ["promo"], "changes": changes, "tolerances": dict.fromkeys(changes, 0.03)}
    (task / "report_json").write_text(json.dumps(drift))
    result = {
        "pipeline": "monitoring",
        "parameters": {"registry_uri": str(tmp_path / "registry")},
        "output": str(task / "report"),
        "log": str(tmp_path / "run.log"),
        "steps": [],
    }
    assert summary(result)[1] == "not retrained: drift share 0.33, threshold 0.5 (promo's level +27.9%, tolerance 3.0%)"
    (task / "report_json").write_text(json.dumps(drift | {"share": 0.0, "drifted": []}))
    assert summary(result)[1] == "not retrained: drift share 0.00, threshold 0.5, no column drifted"
