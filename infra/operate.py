"""`make status|run-schedule|pause-schedule|resume-schedule|call|verify-deploy ENV=`: operating what
an environment runs, through Google's client libraries (Cloud Functions v2, Cloud Scheduler v1,
Vertex AI), always over REST.

status           every function (state, URL, revision, source object compared with the archive synth
                 produces for this checkout), every schedule (state, cron, time zone, last attempt and
                 its status), the latest pipeline runs per pipeline, and the champion version
run-schedule     run one schedule's job now (NAME=<schedule>, a team's <team>-<schedule>)
pause-schedule   pause it; the stack ignores `paused`, so applies leave it paused
resume-schedule  resume it
call             POST BODY (JSON, default {}) to a function's URL with the caller's identity token
verify-deploy    after an apply: every function ACTIVE on the expected source object, every job
                 ENABLED (PAUSED is accepted and said) and calling the trigger's URL with an OIDC
                 token of the scheduler invoker for that audience; a mismatch exits 1 naming it

Usage errors (an unknown NAME or FUNCTION, a BODY that is not JSON) exit 2 before any API call;
missing credentials stop with the message of the other cloud targets.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime

from environments.credentials import (
    MissingPrerequisite,
    api_refused,
    google_api_errors,
    google_credentials,
    not_ready,
    refused,
)
from environments.loading import load_environment
from environments.messages import ConfigError
from environments.naming import ResourceNames
from environments.schema import Environment
from infra.deployed import FUNCTIONS, DeployedSchedule, expected_source_object, function_id, schedules_of

RUNS_PER_PIPELINE = 3
CALL_TIMEOUT_SECONDS = 120  # a little over the functions' own 60 s timeout


class UsageError(ConfigError):
    """A make variable with a value the target cannot use; nothing was called."""


class VerificationFailed(Exception):
    """What is deployed differs from what was applied; one problem per resource."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class Google:
    """The clients the targets use. `api_endpoint` sends every call elsewhere (tests: a local server)."""

    credentials: object
    api_endpoint: str | None = None

    def _client(self, client_class):
        options = {"api_endpoint": self.api_endpoint} if self.api_endpoint else None
        return client_class(credentials=self.credentials, transport="rest", client_options=options)

    def functions(self):
        from google.cloud import functions_v2

        return self._client(functions_v2.FunctionServiceClient)

    def scheduler(self):
        from google.cloud import scheduler_v1

        return self._client(scheduler_v1.CloudSchedulerClient)


def _location(environment: Environment) -> str:
    return f"projects/{environment.project_id}/locations/{environment.region}"


def function_name(environment: Environment, function: str) -> str:
    return f"{_location(environment)}/functions/{function_id(function)}"


def job_name(environment: Environment, schedule: DeployedSchedule) -> str:
    return f"{_location(environment)}/jobs/{schedule.job_id}"


def expected_sources() -> dict[str, str]:
    return {function: expected_source_object(function) for function in FUNCTIONS}


# ---- what is deployed ---------------------------------------------------------------------------


@dataclass(frozen=True)
class DeployedFunction:
    function: str  # as the repository names it (pipeline_trigger)
    state: str  # ACTIVE, FAILED, DEPLOYING, ..., or MISSING
    url: str
    revision: str
    source: str  # the object it was built from


@dataclass(frozen=True)
class DeployedJob:
    schedule: DeployedSchedule
    state: str  # ENABLED, PAUSED, DISABLED, UPDATE_FAILED, or MISSING
    cron: str = ""
    time_zone: str = ""
    last_attempt: str = ""
    last_status: str = ""
    uri: str = ""
    audience: str = ""
    account: str = ""


def deployed_functions(environment: Environment, google: Google) -> list[DeployedFunction]:
    from google.api_core.exceptions import NotFound

    client = google.functions()
    found = []
    for function in FUNCTIONS:
        try:
            deployed = client.get_function(name=function_name(environment, function))
        except NotFound:
            found.append(DeployedFunction(function, "MISSING", "", "", ""))
            continue
        found.append(
            DeployedFunction(
                function,
                deployed.state.name,
                deployed.service_config.uri,
                deployed.service_config.revision,
                deployed.build_config.source.storage_source.object_,
            )
        )
    return found


def deployed_jobs(environment: Environment, google: Google) -> list[DeployedJob]:
    from google.api_core.exceptions import NotFound

    client = google.scheduler()
    found = []
    for schedule in schedules_of(environment):
        try:
            job = client.get_job(name=job_name(environment, schedule))
        except NotFound:
            found.append(DeployedJob(schedule, "MISSING"))
            continue
        found.append(
            DeployedJob(
                schedule,
                job.state.name,
                job.schedule,
                job.time_zone,
                _time(job.last_attempt_time) if "last_attempt_time" in job else "never",
                _attempt_status(job) if "last_attempt_time" in job else "-",
                job.http_target.uri,
                job.http_target.oidc_token.audience,
                job.http_target.oidc_token.service_account_email,
            )
        )
    return found


def _attempt_status(job) -> str:
    """The last attempt's result: OK, or the gRPC code Cloud Scheduler maps the target's answer to,
    with its message."""
    from google.rpc import code_pb2

    code = job.status.code
    if code == code_pb2.OK:
        return "OK"
    message = f": {job.status.message}" if job.status.message else ""
    return f"{code_pb2.Code.Name(code) if code in code_pb2.Code.values() else 'CODE'} ({code}){message}"


def _time(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S UTC") if value else "-"


@dataclass(frozen=True)
class PipelineRun:
    pipeline: str
    team: str
    run: str
    state: str
    started: str
    duration: str


def latest_runs(environment: Environment, credentials, per_pipeline: int = RUNS_PER_PIPELINE) -> list[PipelineRun]:
    """The newest runs of each pipeline (platform and each team's) carrying this environment's label."""
    from google.cloud import aiplatform

    jobs = aiplatform.PipelineJob.list(
        filter=f'labels.env="{environment.name}"',
        order_by="create_time desc",
        project=environment.project_id,
        location=environment.region,
        credentials=credentials,
    )
    runs: list[PipelineRun] = []
    shown: dict[tuple[str, str], int] = {}
    for job in jobs:
        resource = job.gca_resource  # as listed: reading `job.state` would fetch every job again
        labels = dict(resource.labels)
        key = (labels.get("pipeline", resource.display_name), labels.get("team", "-"))
        shown[key] = shown.get(key, 0) + 1
        if shown[key] > per_pipeline:
            continue
        started = resource.start_time if "start_time" in resource else None
        ended = resource.end_time if "end_time" in resource else None
        runs.append(
            PipelineRun(
                pipeline=key[0],
                team=key[1],
                run=resource.name.rsplit("/", 1)[-1],
                state=resource.state.name.removeprefix("PIPELINE_STATE_"),
                started=_time(started),
                duration=_duration(ended - started) if started and ended else "-",
            )
        )
    return sorted(runs, key=lambda r: (r.pipeline, r.team))


def _duration(delta) -> str:
    minutes, seconds = divmod(int(delta.total_seconds()), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m{seconds:02d}s" if hours else f"{minutes}m{seconds:02d}s"


def champion_line(environment: Environment) -> str:
    from pipelines.logic.model_names import default_registry_uri
    from pipelines.logic.registry import open_registry

    uri = default_registry_uri(environment.project_id, environment.region)
    champion = open_registry(uri).champion()
    if champion is None:
        return f"champion: none yet in {uri}"
    return f"champion: version {champion.version} of {uri} (registered {champion.created})"


# ---- status -------------------------------------------------------------------------------------


def table(headers: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows, strict=False)]
    return [
        "  " + "  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in [headers, *rows]
    ]


def status(environment: Environment, google: Google, sources: Mapping[str, str] | None = None) -> str:
    sources = expected_sources() if sources is None else sources

    def source_cell(deployed: DeployedFunction) -> str:
        expected = sources[deployed.function]
        if deployed.source == expected:
            return f"{deployed.source} (as synthesized)"
        return f"{deployed.source or '-'} (synth: {expected})"

    functions = [
        [function_id(f.function), f.state, f.revision or "-", f.url or "-", source_cell(f)]
        for f in deployed_functions(environment, google)
    ]
    jobs = [
        [
            j.schedule.name,
            j.schedule.job_id,
            j.state,
            j.cron or "-",
            j.time_zone or "-",
            j.last_attempt or "-",
            j.last_status or "-",
        ]
        for j in deployed_jobs(environment, google)
    ]
    runs = [
        [r.pipeline, r.team, r.run, r.state, r.started, r.duration]
        for r in latest_runs(environment, google.credentials)
    ]
    lines = [f"{environment.name}: project {environment.project_id}, region {environment.region}", "", "functions"]
    lines += table(["function", "state", "revision", "url", "source object"], functions)
    lines += ["", "schedules"]
    headers = ["schedule", "job", "state", "cron", "time zone", "last attempt", "last status"]
    lines += table(headers, jobs) if jobs else ["  none configured"]
    lines += ["", f"pipeline runs (latest {RUNS_PER_PIPELINE} per pipeline, label env={environment.name})"]
    lines += table(["pipeline", "team", "run", "state", "started", "duration"], runs) if runs else ["  none"]
    lines += ["", champion_line(environment)]
    return "\n".join(lines)


# ---- schedules ----------------------------------------------------------------------------------


def find_schedule(environment: Environment, name: str) -> DeployedSchedule:
    """The schedule an operator names, from the environment's files (no API call)."""
    schedules = {s.name: s for s in schedules_of(environment)}
    if name not in schedules:
        known = ", ".join(sorted(schedules)) or "none (the environment has no schedules)"
        problem = f"{name!r} is not a schedule of {environment.name}" if name else "required"
        raise UsageError([f"NAME: {problem}; expected one of {known}"])
    return schedules[name]


def run_schedule(environment: Environment, schedule: DeployedSchedule, google: Google) -> str:
    google.scheduler().run_job(name=job_name(environment, schedule))
    return f"{schedule.job_id}: started now; `make status ENV={environment.name}` shows the attempt and its run"


def pause_schedule(environment: Environment, schedule: DeployedSchedule, google: Google) -> str:
    job = google.scheduler().pause_job(name=job_name(environment, schedule))
    return (
        f"{schedule.job_id}: {job.state.name}; applies leave it paused until "
        f"`make resume-schedule ENV={environment.name} NAME={schedule.name}`"
    )


def resume_schedule(environment: Environment, schedule: DeployedSchedule, google: Google) -> str:
    job = google.scheduler().resume_job(name=job_name(environment, schedule))
    return f"{schedule.job_id}: {job.state.name} ({job.schedule}, {job.time_zone})"


SCHEDULE_COMMANDS: dict[str, Callable[[Environment, DeployedSchedule, Google], str]] = {
    "run-schedule": run_schedule,
    "pause-schedule": pause_schedule,
    "resume-schedule": resume_schedule,
}


# ---- calling a function -------------------------------------------------------------------------


def parse_function(name: str) -> str:
    """FUNCTION as `make serve` takes it (pipeline_trigger) or as Cloud Functions names it."""
    by_name = {function: function for function in FUNCTIONS} | {function_id(f): f for f in FUNCTIONS}
    if name not in by_name:
        problem = f"{name!r} is not a function" if name else "required"
        raise UsageError([f"FUNCTION: {problem}; expected one of {', '.join(FUNCTIONS)}"])
    return by_name[name]


def parse_body(body: str) -> bytes:
    try:
        json.loads(body)
    except json.JSONDecodeError as error:
        raise UsageError(
            [f"BODY: not JSON ({error.msg} at line {error.lineno}, column {error.colno}); expected e.g. BODY='{{}}'"]
        ) from None
    return body.encode()


def identity_token(audience: str, credentials) -> str:
    """An identity token for `audience` as the caller: a service account (key file or metadata
    server), or the account that ADC impersonates (`gcloud auth application-default login
    --impersonate-service-account=SA`). Plain user credentials cannot mint a token for an audience."""
    import google.auth.transport.requests
    from google.auth import impersonated_credentials
    from google.auth.exceptions import DefaultCredentialsError
    from google.oauth2 import id_token

    request = google.auth.transport.requests.Request()
    if isinstance(credentials, impersonated_credentials.Credentials):
        token = impersonated_credentials.IDTokenCredentials(credentials, target_audience=audience, include_email=True)
        token.refresh(request)
        return token.token
    try:
        return id_token.fetch_id_token(request, audience)
    except DefaultCredentialsError:
        raise MissingPrerequisite(
            f"these credentials cannot mint an identity token for {audience}; run `gcloud auth "
            "application-default login --impersonate-service-account=<an account allowed to invoke it>`, set "
            "GOOGLE_APPLICATION_CREDENTIALS to such an account's key, or call it yourself with "
            f'`curl -H "Authorization: Bearer $(gcloud auth print-identity-token)" -d @body.json {audience}`'
        ) from None


def call_function(environment: Environment, function: str, body: bytes, google: Google) -> tuple[int, str]:
    """POST `body` to the function's URL as the caller; (HTTP status, printable answer)."""
    import requests

    deployed = google.functions().get_function(name=function_name(environment, function))
    url = deployed.service_config.uri
    if not url:
        raise MissingPrerequisite(f"function {function_id(function)} has no URL (state {deployed.state.name})")
    token = identity_token(url, google.credentials)
    response = requests.post(
        url,
        data=body,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        timeout=CALL_TIMEOUT_SECONDS,
    )
    return response.status_code, f"POST {url} -> {response.status_code} {response.reason}\n{response.text}"


# ---- verifying a deploy -------------------------------------------------------------------------


def verify_deploy(environment: Environment, google: Google, sources: Mapping[str, str] | None = None) -> str:
    """Check what the apply left running; VerificationFailed names every resource that differs."""
    sources = expected_sources() if sources is None else sources
    problems, checked = [], []
    functions = {f.function: f for f in deployed_functions(environment, google)}
    for deployed in functions.values():
        shown, expected = function_id(deployed.function), sources[deployed.function]
        if deployed.state != "ACTIVE":
            problems.append(f"function {shown}: state {deployed.state}, expected ACTIVE")
        elif deployed.source != expected:
            problems.append(
                f"function {shown}: runs {deployed.source}, expected {expected} (synthesized from this commit)"
            )
        else:
            checked.append(f"function {shown}: ACTIVE on {expected}")
    trigger_url = functions["pipeline_trigger"].url
    invoker = environment.names.service_account_email(ResourceNames.SCHEDULER_INVOKER)
    for job in deployed_jobs(environment, google):
        shown = f"schedule {job.schedule.job_id}"
        wrong = [
            f"{what} is {actual or 'unset'}, expected {expected}"
            for what, actual, expected in [
                ("target", job.uri, trigger_url),
                ("OIDC audience", job.audience, trigger_url),
                ("OIDC account", job.account, invoker),
            ]
            if actual != expected
        ]
        if job.state not in ("ENABLED", "PAUSED"):
            problems.append(f"{shown}: state {job.state}, expected ENABLED (or PAUSED)")
        elif wrong:
            problems.append(f"{shown}: {'; '.join(wrong)}")
        elif job.state == "PAUSED":
            checked.append(f"{shown}: PAUSED deliberately (accepted), calls the trigger as {invoker}")
        else:
            checked.append(f"{shown}: ENABLED, calls the trigger as {invoker}")
    if problems:
        raise VerificationFailed(problems)
    return "\n".join([*checked, f"verified {environment.name}: {len(checked)} resources as applied"])


# ---- command line -------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["status", "call", "verify-deploy", *SCHEDULE_COMMANDS])
    parser.add_argument("--env", required=True, help="environment name (environments/<name>.yaml)")
    parser.add_argument("--name", default="", help="schedule name: <schedule>, or <team>-<schedule>")
    parser.add_argument("--function", default="", help="call: the function")
    parser.add_argument("--body", default="{}", help="call: the JSON body")
    args = parser.parse_args(argv)
    answer_status = 0
    try:
        environment = load_environment(args.env)
        # Usage is checked before credentials: nothing is called with a bad value.
        schedule = find_schedule(environment, args.name) if args.command in SCHEDULE_COMMANDS else None
        function = parse_function(args.function) if args.command == "call" else None
        body = parse_body(args.body) if args.command == "call" else b""
        google = Google(google_credentials(environment.project_id))
        if args.command == "status":
            result = status(environment, google)
        elif args.command == "verify-deploy":
            result = verify_deploy(environment, google)
        elif args.command == "call":
            answer_status, result = call_function(environment, function, body, google)
        else:
            result = SCHEDULE_COMMANDS[args.command](environment, schedule, google)
    except (ConfigError, *not_ready()) as error:
        return refused(error, f"{args.command} {args.env}")
    except google_api_errors() as error:
        return api_refused(error, f"{args.command} {args.env}")
    except VerificationFailed as error:
        print("\n".join(f"verify-deploy {args.env}: {problem}" for problem in error.problems), file=sys.stderr)
        return 1
    print(result)
    return 1 if answer_status >= 400 else 0


if __name__ == "__main__":
    sys.exit(main())
