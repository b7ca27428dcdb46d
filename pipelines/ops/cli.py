"""`make compile-pipelines`, `make run-pipeline`, `make publish-pipelines`.

compile   write build/pipelines/<pipeline>.yaml (on ENV's components image when ENV is given)
run       without --env: run locally with kfp.local (registry in build/registry);
          with --env: submit to Vertex AI Pipelines as the environment's runner account;
          --dry-run prints the exact create request instead of sending it
publish   compile on ENV's components image and upload every template to ENV's KFP repository,
          tagged with the release tag, the git commit and `latest`
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

from environments.credentials import api_refused, google_api_errors, google_credentials, not_ready, refused
from environments.loading import (
    COMPILED_DIR,
    LOCAL_PIPELINE_ROOT,
    REPO_ROOT,
    load_environment,
    local_registries,
    local_registry_of,
)
from environments.messages import ConfigError
from environments.naming import LOCAL_COMPONENTS_IMAGE, PIPELINES, TAG
from environments.schema import Environment
from pipelines.logic.model_names import derived_model
from pipelines.logic.parameters import DEFAULT_DATA_SPEC, DEFAULTS, check


class UsageError(Exception):
    """Bad CLI input: one line naming the argument, the value and what was expected."""


class PipelineFailed(Exception):
    """A local run's task failed; the task's own log (printed above) says why."""


def git_commit() -> str:
    """The commit being built: COMMIT_SHA where CI provides it (Cloud Build may check out without .git)."""
    if os.environ.get("COMMIT_SHA"):
        return os.environ["COMMIT_SHA"][:12]
    result = subprocess.run(
        ["git", "rev-parse", "--short=12", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True, check=False
    )
    return result.stdout.strip() if result.returncode == 0 else "uncommitted"


def components_image(environment: Environment | None) -> str:
    """The image components run on: ENV's repository tagged with IMAGE_TAG (default: the commit)."""
    if environment is None:
        return LOCAL_COMPONENTS_IMAGE
    return f"{environment.names.components_image}:{os.environ.get('IMAGE_TAG') or git_commit()}"


def compile_pipelines(environment: Environment | None, outdir: Path = COMPILED_DIR) -> dict[str, Path]:
    from kfp import compiler

    from pipelines.kfp_glue.definitions import build  # kfp: only where pipelines are built

    pipelines = build(components_image(environment))
    outdir.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name in PIPELINES:
        with tempfile.NamedTemporaryFile(suffix=".yaml", dir=outdir, delete=False) as staging:
            compiler.Compiler().compile(getattr(pipelines, name), staging.name)
        paths[name] = Path(staging.name).replace(outdir / f"{name}.yaml")
    return paths


def parse_params(text: str) -> dict:
    try:
        params = json.loads(text or "{}")
    except json.JSONDecodeError as error:
        raise UsageError(f"PARAMS: not valid JSON: {error.msg} at line {error.lineno}, column {error.colno}") from None
    except ValueError:  # e.g. an integer of more digits than Python reads
        raise UsageError("PARAMS: not valid JSON: a number is too large") from None
    if not isinstance(params, dict):
        raise UsageError(
            f"PARAMS: expected a JSON object such as '{{\"holdout_days\": 7}}', got {type(params).__name__}"
        )
    return params


def checked_parameters(template: dict, params: dict, defaults: dict) -> dict:
    """Local runs: types and ranges (parameters.py); any source, a local registry by default."""
    values = defaults | params
    problems = check(template, values, where="PARAMS")
    if problems:
        raise UsageError("\n".join(f"{field}: {message}" for field, message in problems))
    return values


def local_registry(params: dict) -> Path:
    """A local run's default registry: the run's model (model_names.derived_model), the
    platform's model in build/registry, any other in build/registry/models/<model>."""
    return local_registry_of(
        derived_model(params.get("source", DEFAULTS["source"]), params.get("data_spec", DEFAULT_DATA_SPEC))
    )


NEEDS_A_CHAMPION = ("prediction", "monitoring")  # pipelines that use a model's champion


def no_champion(values: dict) -> str | None:
    """For a run that uses a champion and names no registry: that the model of its source and spec
    has none yet, with the local models that have one (a file named otherwise is another model)."""
    from pipelines.logic.registry import open_registry

    if open_registry(values["registry_uri"]).champion() is not None:
        return None
    with_champion = [
        _shown(path) for path in local_registries() if path.is_dir() and open_registry(str(path)).champion()
    ]
    return (
        f"not given, so the model of this source and spec, {_shown(values['registry_uri'])}, which has no champion "
        "yet; expected the registry_uri of the model to use"
        + (f" (with a champion here: {', '.join(with_champion)})" if with_champion else ", once one is trained")
    )


def champion_spec_problem(registry_uri: str, data_spec: dict) -> str | None:
    """A model's champion is only compared with (and scores, and monitors) data of its own spec:
    a run whose spec differs is refused before any step, pointing to the run's own model."""
    from pipelines.logic.champion import load_champion, spec_differences
    from pipelines.logic.promotion import current_champion
    from pipelines.logic.registry import open_registry
    from pipelines.logic.spec import DataSpec

    registry = open_registry(registry_uri)
    champion = current_champion(registry)
    if champion is None:
        return None
    _, forecaster = load_champion(registry, current=champion)  # a downloaded copy is deleted once read
    differences = spec_differences(forecaster.spec, DataSpec.from_dict(DEFAULT_DATA_SPEC | data_spec))
    if not differences:
        return None
    return (
        f"differs from the spec of {_shown(registry_uri)}'s champion version {champion.version}: {differences}; "
        "expected the champion's spec, or leave registry_uri unset to use the model of this source and spec"
    )


def run_locally(pipeline: str, params: dict, console=None) -> dict:
    """Run one pipeline with kfp.local: one line per step on `console`, kfp.local's full output in
    a log file; returns the parameters, the output, the log's path, the steps and the versions
    the registry held before the run."""
    from pipelines.kfp_glue import local
    from pipelines.kfp_glue.definitions import build
    from pipelines.logic.registry import open_registry

    console = console or sys.stdout
    pipelines = build()
    definition = getattr(pipelines, pipeline)
    template = _spec_of(definition)
    values = checked_parameters(template, params, {"registry_uri": str(local_registry(params))})
    if problem := champion_spec_problem(values["registry_uri"], values.get("data_spec", DEFAULT_DATA_SPEC)):
        raise UsageError(f"PARAMS.data_spec: {problem}")
    if pipeline in NEEDS_A_CHAMPION and "registry_uri" not in params and (problem := no_champion(values)):
        raise UsageError(f"PARAMS.registry_uri: {problem}")
    held_before = {version.version for version in open_registry(values["registry_uri"]).versions()}
    local.prune(LOCAL_PIPELINE_ROOT, local.KEEP_RUNS - 1)  # room for this run: KEEP_RUNS after it
    local.init(LOCAL_PIPELINE_ROOT)
    log = local.log_path(LOCAL_PIPELINE_ROOT, pipeline)
    console.write(f"{pipeline}: full log in {_shown(log)}\n")
    runs_before = local.run_folders(LOCAL_PIPELINE_ROOT)
    with local.component_scratch(), local.reported(log, console) as reporter:
        try:
            task = definition(**values)
        except RuntimeError:  # kfp.local reports a failed task as RuntimeError
            raise PipelineFailed(_failure(reporter.steps, log)) from None
    local.mark_succeeded(LOCAL_PIPELINE_ROOT, runs_before)
    output = task.output
    output = getattr(output, "path", output)
    return {
        "pipeline": pipeline,
        "parameters": values,
        "output": output,
        "log": str(log),
        "steps": reporter.steps,
        "held_before": held_before,  # the registry's versions before the run
    }


def _drift_outcome(report_json: Path, retrained: bool, threshold: float) -> str:
    """What the monitoring run found (its drift report's JSON, beside the HTML one) and did."""
    from pipelines.logic.drift import DriftResult

    found = DriftResult.from_json(report_json.read_text())
    if retrained:
        return f"retrained: {found.reason(threshold)}"
    moves = found.moves()
    shown = f"not retrained: drift share {found.share:.2f}, threshold {threshold:g}"
    return shown + (f" ({moves})" if moves else ", no column drifted")


def _failure(steps: list, log: Path) -> str:
    """Why a run failed, its last line naming the step and the reason (every problem of a
    multi-line reason on the lines above it)."""
    failed = next((step for step in steps if step.status != "SUCCESS"), None)
    if failed is None:
        return f"before any step ran (full log: {_shown(log)})"
    *above, last = failed.last_lines or ["no message; see the log"]
    if above:
        last = f"{len(above) + 1} problems, the last: {last}"
    return "\n".join([*above, f"step {failed.name}: {last} (full log: {_shown(log)})"])


def _shown(path: Path | str) -> str:
    """A path relative to the repository where it is inside it."""
    path = Path(path)
    return str(path.relative_to(REPO_ROOT)) if path.is_relative_to(REPO_ROOT) else str(path)


def summary(result: dict) -> list[str]:
    """The lines ending a successful local run: what it produced, next to what it is compared with.
    A run that trained the very artifacts a version already holds registered nothing: its version
    line says so, and the gate line is that version's, from when it was registered."""
    from pipelines.logic.registry import open_registry

    output, values = result["output"], result["parameters"]
    lines = []
    if result["pipeline"] == "prediction":
        lines.append(f"forecasts: {_shown(output)}")
    elif result["pipeline"] == "daily":
        from pipelines.logic.cycle_store import store_root

        report = json.loads(output)
        check, champion = report["check"], report["champion"]
        lines.append(f"day {report['day']}: champion {'version ' + champion if champion else 'none'}")
        lines.append(f"check: {check.get('reason') or 'nothing to act on'}")
        retraining, forecast = report["retraining"], report["forecast"]
        if retraining.get("retrained"):
            lines.append(f"retrained: version {retraining['version']}: {retraining['reason']}")
        elif "reason" in retraining:
            lines.append(f"not retrained: {retraining['reason']}")
        lines.append(
            f"forecast of the next day: version {forecast['model_version']}"
            if forecast["forecast"]
            else f"no forecast of the next day: {forecast['reason']}"
        )
        lines.append(f"cycle store: {_shown(store_root(values['registry_uri']))}")
    elif result["pipeline"] == "monitoring":
        retrained = any(step.name == "register" for step in result["steps"])
        lines.append(f"drift report: {_shown(output)}")
        threshold = values.get("drift_threshold", DEFAULTS["drift_threshold"])
        lines.append(_drift_outcome(Path(output).with_name("report_json"), retrained, threshold))
    if result["pipeline"] == "training" or any(step.name == "register" for step in result["steps"]):
        registry = open_registry(values["registry_uri"])
        versions = {v.version: v for v in registry.versions()}
        latest = versions.get(output) or versions[max(versions, key=int)]  # training's output is its version
        holdout, baseline = latest.metrics.get("holdout", {}), latest.metrics.get("baseline", {})
        unchanged = latest.version in result.get("held_before", ())
        lines.append(
            f"version: {latest.version} in {_shown(values['registry_uri'])}"
            + (" (unchanged: this run trained the artifacts it holds; nothing was registered)" if unchanged else "")
        )
        width = max(map(len, holdout), default=0)  # metric names differ in length (mae, coverage_80)
        lines += [
            f"  {name:<{width}} {holdout[name]:10.2f}  "
            # The naive rules are not fitted: a fit time has no baseline to stand next to.
            + (
                "(CPU seconds per backtest fold)"
                if name == "fit_seconds"
                else f"(baseline {baseline.get(name, float('nan')):.2f})"
            )
            for name in holdout
        ]
        decision = "promoted" if latest.metrics.get("promoted") else "not promoted"
        when = f" (when version {latest.version} was registered)" if unchanged else ""
        lines.append(f"gate{when}: {decision}: {latest.metrics.get('reason', '')}")
        lines.append(f"model artifacts: {_shown(latest.artifacts)}")
    lines.append(f"full log: {_shown(result['log'])}")
    return lines


def _spec_of(definition) -> dict:
    from google.protobuf import json_format

    return json_format.MessageToDict(definition.pipeline_spec)


def submit_to_vertex(
    pipeline: str, environment: Environment, params: dict, dry_run: bool, team: str | None = None
) -> dict:
    """Through the one submission path (submission.py) the trigger function uses too."""
    from pipelines.ops.submission import InvalidSubmission, prepare
    from pipelines.ops.vertex import Target, pipeline_job, request_of

    target = Target.of(environment)
    with tempfile.TemporaryDirectory() as outdir:
        template_path = compile_pipelines(environment, Path(outdir))[pipeline]
        template = yaml.safe_load(template_path.read_text())
        try:
            submission = prepare(target, pipeline, params, team=team, trigger="cli", template=template, where="PARAMS")
        except InvalidSubmission as invalid:
            lines = [f"{'TEAM' if field == 'team' else field}: {message}" for field, message in invalid.problems]
            raise UsageError("\n".join(lines)) from None
        job = pipeline_job(target, submission, str(template_path), credentials=_credentials(environment, dry_run))
    if dry_run:
        return request_of(job, submission.service_account)
    job.submit(service_account=submission.service_account)
    return {"submitted": job.resource_name, "console": job._dashboard_uri()}


def _credentials(environment: Environment, dry_run: bool):
    """A dry run builds the request without calling Google, so it needs no account. Otherwise the
    credentials are refreshed here, before the template is sent: Vertex AI's client calls over
    gRPC, which reports a login that cannot be refreshed (expired, revoked, no network) as an
    unavailable service, not as google.auth's error that `refused` explains."""
    if dry_run:
        from google.auth.credentials import AnonymousCredentials

        return AnonymousCredentials()
    credentials = google_credentials(environment.project_id)
    if not credentials.valid:
        from google.auth.transport.requests import Request

        credentials.refresh(Request())
    return credentials


MOVING_TAG = "latest"  # the only tag that moves; release and commit tags name one template for good


def publish(environment: Environment, tag: str | None) -> dict:
    """Upload every template and tag it with the release tag, the commit and `latest`. Re-running
    is safe: the same template is the same version (its sha256), a tag already on that version is
    left alone, and only `latest` moves; a release or commit tag already on another version is
    refused, never moved."""
    from kfp.registry import RegistryClient

    if tag and not TAG.fullmatch(tag):
        raise UsageError(f"TAG: {tag[:80]!r} is not a template tag; expected e.g. v1.2.0")
    client = RegistryClient(host=environment.names.kfp_repository_url, auth=google_credentials(environment.project_id))
    tags = [t for t in dict.fromkeys([tag, git_commit(), MOVING_TAG]) if t]
    published = {}
    for name, path in compile_pipelines(environment).items():
        package, version = client.upload_pipeline(file_name=str(path))
        for each in tags:
            _place_tag(client, package, version, each)
        published[name] = {"package": package, "version": version, "tags": tags}
    return published


def _place_tag(client, package: str, version: str, tag: str) -> None:
    from requests import HTTPError

    try:
        current = client.get_tag(package, tag)["version"].rsplit("/", 1)[1]
    except HTTPError as error:
        if error.response is None or error.response.status_code != 404:
            raise
        client.create_tag(package, version, tag)
        return
    if current == version:
        return
    if tag != MOVING_TAG:
        raise UsageError(
            f"TAG: {tag!r} already names {package} version {current}; expected a new tag (release and commit tags "
            "are never moved)"
        )
    client.update_tag(package, version, tag)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    compile_command = commands.add_parser("compile")
    compile_command.add_argument("--env")
    run_command = commands.add_parser("run")
    run_command.add_argument("pipeline")
    run_command.add_argument("--env")
    run_command.add_argument("--params", default="{}")
    run_command.add_argument("--dry-run", action="store_true")
    run_command.add_argument("--team", help="run as this team (its account, pipeline root and model)")
    run_command.add_argument("--result-file", type=Path, help="also write the result JSON here")
    publish_command = commands.add_parser("publish")
    publish_command.add_argument("--env", required=True)
    publish_command.add_argument("--tag")
    args = parser.parse_args(argv)
    # Like the other targets that act on an environment, refusals say `<make target> <env>: why`.
    target = {"compile": "compile-pipelines", "run": "run-pipeline", "publish": "publish-pipelines"}[args.command]
    where = f"{target} {args.env}" if args.env else ""
    try:
        environment = load_environment(args.env) if args.env else None
        if args.command == "compile":
            for name, path in compile_pipelines(environment).items():
                print(f"{name}: {path.relative_to(REPO_ROOT)} (image {components_image(environment)})")
            return 0
        if args.command == "publish":
            print(json.dumps(publish(environment, args.tag), indent=2))
            return 0
        if args.pipeline not in PIPELINES:
            raise UsageError(f"PIPELINE: {args.pipeline!r} is not a pipeline; expected one of {', '.join(PIPELINES)}")
        params = parse_params(args.params)
        if environment is None:
            if args.dry_run or args.team:
                raise UsageError(
                    f"{'DRY_RUN: prints' if args.dry_run else 'TEAM: runs'} a Vertex AI request, so it needs "
                    "ENV=<environment>"
                )
            result = run_locally(args.pipeline, params)
            print("\n".join(summary(result)))
        else:
            result = submit_to_vertex(args.pipeline, environment, params, args.dry_run, args.team)
            print(json.dumps(result, indent=2, default=str))
    except (ConfigError, UsageError, *not_ready()) as error:
        return refused(error, where)
    except google_api_errors() as error:
        return api_refused(error, where)
    except PipelineFailed as error:
        *above, last = str(error).split("\n")
        print("\n".join([*above, f"run-pipeline {args.pipeline} failed at {last}"]), file=sys.stderr)
        return 1
    if args.result_file:
        args.result_file.write_text(json.dumps(result, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
