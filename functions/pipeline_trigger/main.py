"""The pipeline trigger: Cloud Scheduler POSTs `{pipeline, version?, parameters?, team?}`; it
submits a Vertex AI PipelineJob from the environment's KFP repository, exactly once per firing.

Validation comes first: anything wrong gets 400 `{"error", "field"}`, through the submission
path the CLI uses too (pipelines/ops/submission.py: parameter ranges, registry and sources inside the
environment, the team's account, root and model). The job id derives from the pipeline, the team,
the `X-CloudScheduler-ScheduleTime` header in UTC (or a hash of `X-Request-Id`) and a hash of the
body, so a redelivered request finds its job already submitted. That answer (200
`already_submitted`) is given only when the existing job is this trigger's own (same labels,
service account, pipeline, root and parameters); any other job holding the id gets 409 naming
the differences.

Settings: `functions.settings.TriggerSettings` (set by the stack; `make serve` sets local ones).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import re
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import functions_framework
import yaml

from environments.messages import unknown_team
from environments.naming import PIPELINES, TAG
from functions.http_json import BadRequest, answer_before_the_body, json_object
from functions.logs import logged
from functions.settings import TriggerSettings
from pipelines.logic.parameters import shown
from pipelines.ops.submission import InvalidSubmission, prepare
from pipelines.ops.vertex import conflicts, existing_job, pipeline_job, request_of

BODY_KEYS = ("pipeline", "version", "parameters", "team")
MAX_BODY_BYTES = 64 * 1024
REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,100}")


@functools.cache
def _settings() -> TriggerSettings:
    """Read once per instance (functions/settings.py owns the variables)."""
    return TriggerSettings.from_env()


def parse(request, teams: dict) -> dict:
    """The validated body, or BadRequest naming the field."""
    body = json_object(request, BODY_KEYS, MAX_BODY_BYTES)
    pipeline = body.get("pipeline")
    if pipeline not in PIPELINES:
        problem = "missing" if "pipeline" not in body else f"{shown(pipeline)} is not a pipeline"
        raise BadRequest("pipeline", f"{problem}; expected one of {', '.join(PIPELINES)}")
    version = body.get("version", "latest")
    if not isinstance(version, str) or not TAG.fullmatch(version):
        raise BadRequest("version", f"{shown(version)} is not a template tag; expected e.g. latest or v1.2.0")
    parameters = body.get("parameters", {})
    if not isinstance(parameters, dict):
        raise BadRequest("parameters", "expected a JSON object of pipeline parameters")
    team = body.get("team")
    if team is not None and (not isinstance(team, str) or team not in teams):  # a list or object is no team
        raise BadRequest("team", unknown_team(shown(team), teams, environment=True))
    return {"pipeline": pipeline, "version": version, "parameters": parameters, "team": team}


def job_id(body: dict, headers) -> str:
    """Stable for one scheduled firing: the same firing redelivered gets the same id. The fire
    time is converted to UTC (the same instant written with another offset is the same firing);
    a request id is hashed as sent (ids differing only in case or punctuation stay distinct)."""
    schedule_time, request_id = headers.get("X-CloudScheduler-ScheduleTime"), headers.get("X-Request-Id")
    if schedule_time:
        try:
            fired = datetime.fromisoformat(schedule_time.replace("Z", "+00:00"))
        except ValueError:
            raise BadRequest(
                "X-CloudScheduler-ScheduleTime", f"{schedule_time[:40]!r} is not an RFC 3339 time"
            ) from None
        if fired.tzinfo is None:
            raise BadRequest(
                "X-CloudScheduler-ScheduleTime", f"{schedule_time[:40]!r} has no UTC offset; expected RFC 3339"
            )
        stamp = fired.astimezone(UTC).strftime("%Y%m%dt%H%M%S")
    elif request_id:
        if not REQUEST_ID.fullmatch(request_id):
            raise BadRequest("X-Request-Id", "expected 1 to 100 letters, digits, '.', '_', ':' or '-'")
        stamp = "request-" + hashlib.sha256(request_id.encode()).hexdigest()[:16]
    else:
        raise BadRequest(
            "X-CloudScheduler-ScheduleTime",
            "missing; expected the header Cloud Scheduler sends "
            "(or X-Request-Id) so that a redelivered request never starts a second run",
        )
    digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:8]
    return f"{body['pipeline']}-{body['team'] or 'platform'}-{stamp}-{digest}"[:128]


def day_before_firing(headers) -> str:
    """The day a scheduled `daily` run collects: the day before the firing (UTC); empty without a
    fire time, and the pipeline then takes the day before it runs. A redelivery names the same day."""
    schedule_time = headers.get("X-CloudScheduler-ScheduleTime")
    if not schedule_time:
        return ""
    fired = datetime.fromisoformat(schedule_time.replace("Z", "+00:00")).astimezone(UTC)
    return (fired.date() - timedelta(days=1)).isoformat()


@contextlib.contextmanager
def template_file(templates: str, pipeline: str, version: str, credentials) -> Iterator[Path]:
    """`<folder>/<pipeline>.yaml`, or `<repository>/<pipeline>/<version>` downloaded to a file that
    is removed when the block ends: an instance's /tmp is memory (Cloud Run's in-memory file
    system, cloud.google.com/run/docs/container-contract#filesystem), and a file left per request
    would grow until the instance runs out of it."""
    if not templates.startswith(("https://", "http://")):
        yield Path(templates) / f"{pipeline}.yaml"
        return
    with tempfile.TemporaryDirectory(prefix="template-") as folder:
        path = Path(folder) / f"{pipeline}.yaml"
        path.write_bytes(download_template(templates, pipeline, version, credentials))
        yield path


def download_template(templates: str, pipeline: str, version: str, credentials) -> bytes:
    """`<repository>/<pipeline>/<version>` from the KFP repository, or BadRequest (404) without it."""
    import requests

    headers = {}
    if credentials is not None and templates.startswith("https://"):
        from google.auth.transport.requests import Request

        if not credentials.valid:
            credentials.refresh(Request())
        headers["Authorization"] = f"Bearer {credentials.token}"
    response = requests.get(f"{templates}/{pipeline}/{version}", headers=headers, timeout=30)
    if response.status_code == 404:
        raise BadRequest("version", f"no template {pipeline}:{version} in the KFP repository", 404)
    response.raise_for_status()
    return response.content


@functools.cache
def _credentials(dry_run: bool):
    """Looked up once per instance, not per request; the token is refreshed only when it expires."""
    if dry_run:
        from google.auth.credentials import AnonymousCredentials

        return AnonymousCredentials()
    import google.auth

    return google.auth.default(scopes=["https://www.googleapis.com/auth/cloud-platform"])[0]


@functions_framework.http
@answer_before_the_body
@logged("pipeline_trigger")
def trigger(request, fields: dict):
    settings = _settings()
    target = settings.target
    try:
        body = parse(request, target.team_accounts)
        identifier = job_id(body, request.headers)
        if body["pipeline"] == "daily":
            body["parameters"] = {"day": day_before_firing(request.headers)} | body["parameters"]
        fields |= {
            "pipeline": body["pipeline"],
            "version": body["version"],
            "team": body["team"] or "platform",
            "job_id": identifier,
        }
        credentials = _credentials(settings.dry_run)
        with template_file(settings.templates, body["pipeline"], body["version"], credentials) as template_path:
            template = yaml.safe_load(template_path.read_text())
            try:
                submission = prepare(
                    target,
                    body["pipeline"],
                    body["parameters"],
                    team=body["team"],
                    trigger="scheduler",
                    template=template,
                )
            except InvalidSubmission as invalid:
                raise BadRequest(*invalid.problems[0]) from None
            # The job reads its template as it is made: the file is needed no longer.
            job = pipeline_job(target, submission, str(template_path), job_id=identifier, credentials=credentials)
    except BadRequest as bad:
        return bad.response()

    request_body = request_of(job, submission.service_account)
    if settings.dry_run:
        return {"status": "dry_run", "job_id": identifier, "request": request_body}, 200

    from google.api_core.exceptions import AlreadyExists, Conflict, GoogleAPICallError

    try:
        job.submit(service_account=submission.service_account)
    except (AlreadyExists, Conflict):
        try:
            existing = existing_job(target, identifier, credentials)
        except GoogleAPICallError as error:
            return {"error": f"job {identifier} exists but cannot be read: {error.message}", "field": "job_id"}, 409
        differences = conflicts(existing, request_body["body"])
        if differences:
            return {
                "error": f"job {identifier} exists but was not started by this trigger for this request: "
                + "; ".join(differences),
                "field": "job_id",
            }, 409
        return {"status": "already_submitted", "job_id": identifier}, 200
    return {"status": "submitted", "job_id": identifier, "job": job.resource_name}, 200
