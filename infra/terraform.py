"""`make plan|deploy|bootstrap ENV=`: Terraform (or OpenTofu) on a synthesized stack.

plan    init against the environment's state bucket, then write `plan.tfplan` beside the stack
        (READ_ONLY=1: plan without the state lock and without saving, for pull requests)
apply   apply exactly the saved plan
deploy  plan, then apply
plan-release   plan, print the resource-level summary, and save the plan in the state bucket under
               `plans/<env>/<commit>/` with the commit and the stack's digest (prod, before approval)
apply-release  after approval: apply exactly the plan saved for this commit, refusing it when the
               commit or the synthesized stack differ (Terraform refuses it when the state changed)
bootstrap  create the versioned, private state bucket that `init` needs and enable the APIs
           Terraform calls before the first plan (once per environment)

Before a plan, a Vertex AI metadata store that already exists (created lazily by an earlier run) is
adopted with an import block instead of being created again, which would fail with 409.

Before anything runs, the binary and Google credentials are checked, with a message saying how to
get each when it is missing. `TERRAFORM=/path/to/tofu` picks the binary; otherwise terraform, then
tofu, is taken from PATH.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from environments.credentials import MissingPrerequisite, google_credentials, not_ready, refused
from environments.loading import load_environment
from environments.messages import ConfigError
from environments.schema import Environment
from infra import OUT_DIR
from infra.google_rules import BOOTSTRAP_APIS

PLAN_FILE = "plan.tfplan"
ADOPT_FILE = "adopt.tf.json"  # import blocks for resources that exist already
RELEASE_PREFIX = "plans"  # in the state bucket: plans/<env>/<commit>/{plan.tfplan,summary.txt,release.json}
ACTIONS = {"create": "+", "delete": "-", "update": "~", "read": "<="}


def terraform_binary() -> str:
    chosen = os.environ.get("TERRAFORM")
    for candidate in [chosen] if chosen else ["terraform", "tofu"]:
        path = shutil.which(candidate)
        if path:
            return path
    raise MissingPrerequisite(
        (f"TERRAFORM={chosen} is not an executable" if chosen else "neither terraform nor tofu is on PATH")
        + "; install Terraform >= 1.5 (developer.hashicorp.com/terraform/install) or OpenTofu (opentofu.org), "
        "or let Cloud Build run it (cloudbuild/ uses a pinned image)"
    )


def stack_dir(environment: Environment) -> Path:
    path = OUT_DIR / "stacks" / environment.name
    if not (path / "cdk.tf.json").exists():
        raise MissingPrerequisite(f"no synthesized stack; run `make synth ENV={environment.name}`")
    return path


def _run(binary: str, directory: Path, *args: str) -> None:
    print(f"$ {Path(binary).name} {' '.join(args)}", flush=True)
    subprocess.run([binary, f"-chdir={directory}", *args], check=True)


def plan(environment: Environment, read_only: bool = False) -> Path:
    binary = terraform_binary()
    credentials = google_credentials(environment.project_id)
    directory = stack_dir(environment)
    adopt_existing(environment, directory, credentials)
    _run(binary, directory, "init", "-input=false", "-reconfigure")
    if read_only:
        _run(binary, directory, "plan", "-input=false", "-lock=false")
    else:
        _run(binary, directory, "plan", "-input=false", f"-out={PLAN_FILE}")
    return directory / PLAN_FILE


def adopt_existing(environment: Environment, directory: Path, credentials) -> list[str]:
    """Import blocks for the stack's resources that Google creates on its own: the region's
    `default` metadata store, made by the first pipeline run or experiment. Import blocks are
    idempotent once the resource is in the state (developer.hashicorp.com/terraform/language/import)."""
    stack = json.loads((directory / "cdk.tf.json").read_text())
    stores = stack.get("resource", {}).get("google_vertex_ai_metadata_store", {})
    adopted = []
    for logical_id, store in stores.items():
        name = f"projects/{store['project']}/locations/{store['region']}/metadataStores/{store['name']}"
        if _metadata_store_exists(name, store["region"], credentials):
            adopted.append(
                {"to": f"google_vertex_ai_metadata_store.{logical_id}", "id": name, "provider": "google-beta"}
            )
    target = directory / ADOPT_FILE
    if adopted:
        target.write_text(json.dumps({"import": adopted}, indent=2))
        print(f"adopting {len(adopted)} existing resource(s): {', '.join(a['id'] for a in adopted)}", flush=True)
    else:
        target.unlink(missing_ok=True)
    return [a["id"] for a in adopted]


def _metadata_store_exists(name: str, region: str, credentials) -> bool:
    from google.api_core.exceptions import NotFound
    from google.cloud.aiplatform import initializer, utils

    client = initializer.global_config.create_client(
        client_class=utils.MetadataClientWithOverride, credentials=credentials, location_override=region
    )
    try:
        client.get_metadata_store(name=name)
    except NotFound:
        return False
    return True


def plan_summary(plan_json: dict) -> list[str]:
    """One line per changed resource, as `make diff` prints them: `+ create`, `~ update`, `- delete`,
    `-/+ replace`."""
    lines = []
    for change in plan_json.get("resource_changes", []):
        actions = change["change"]["actions"]
        if actions == ["no-op"]:
            continue
        mark = "-/+" if sorted(actions) == ["create", "delete"] else ACTIONS.get(actions[0], actions[0])
        lines.append(f"  {mark} {change['address']}")
    return lines or ["  no changes"]


def release_commit() -> str:
    commit = os.environ.get("COMMIT_SHA", "")
    if not re.fullmatch(r"[0-9a-f]{7,40}", commit):
        raise MissingPrerequisite(f"COMMIT_SHA {commit[:40]!r} is not a commit; expected the build's commit SHA")
    return commit


def _stack_digest(directory: Path) -> str:
    return hashlib.sha256((directory / "cdk.tf.json").read_bytes()).hexdigest()


def plan_release(environment: Environment) -> str:
    """Plan, print the summary, and save plan, summary and release facts for approval."""
    commit = release_commit()
    saved = plan(environment)
    directory = saved.parent
    shown = subprocess.run(
        [terraform_binary(), f"-chdir={directory}", "show", "-json", PLAN_FILE],
        capture_output=True,
        text=True,
        check=True,
    )
    summary = "\n".join([f"plan of {environment.name} at {commit}:", *plan_summary(json.loads(shown.stdout))])
    print(summary, flush=True)
    release = {"environment": environment.name, "commit": commit, "stack_sha256": _stack_digest(directory)}
    bucket = _state_bucket(environment)
    prefix = f"{RELEASE_PREFIX}/{environment.name}/{commit}"
    bucket.blob(f"{prefix}/{PLAN_FILE}").upload_from_filename(saved)
    bucket.blob(f"{prefix}/summary.txt").upload_from_string(summary + "\n")
    bucket.blob(f"{prefix}/release.json").upload_from_string(json.dumps(release, indent=2))
    return f"saved gs://{bucket.name}/{prefix}/ for approval; run the {environment.name}-apply trigger for this tag"


def apply_release(environment: Environment) -> None:
    """Apply exactly the plan saved for this commit, after checking it belongs to this stack."""
    commit = release_commit()
    binary = terraform_binary()
    google_credentials(environment.project_id)
    directory = stack_dir(environment)
    bucket = _state_bucket(environment)
    prefix = f"{RELEASE_PREFIX}/{environment.name}/{commit}"
    release_blob = bucket.blob(f"{prefix}/release.json")
    if not release_blob.exists():
        raise MissingPrerequisite(
            f"no saved plan for commit {commit} (gs://{bucket.name}/{prefix}/); "
            f"run the {environment.name}-plan trigger for this tag first"
        )
    release = json.loads(release_blob.download_as_bytes())
    if release.get("commit") != commit or release.get("environment") != environment.name:
        raise MissingPrerequisite(f"the saved plan is for {release.get('commit')}, not {commit}")
    if release.get("stack_sha256") != _stack_digest(directory):
        raise MissingPrerequisite(f"the synthesized stack differs from the one planned at {commit}; plan again")
    bucket.blob(f"{prefix}/{PLAN_FILE}").download_to_filename(directory / PLAN_FILE)
    _run(binary, directory, "init", "-input=false", "-reconfigure")
    _run(binary, directory, "apply", "-input=false", PLAN_FILE)


def _state_bucket(environment: Environment):
    from google.cloud import storage

    client = storage.Client(project=environment.project_id, credentials=_storage_credentials(environment))
    return client.bucket(environment.state_bucket)


def apply(environment: Environment) -> None:
    """Apply the plan `make plan` saved: what was reviewed is what changes."""
    binary = terraform_binary()
    google_credentials(environment.project_id)
    directory = stack_dir(environment)
    if not (directory / PLAN_FILE).exists():
        raise MissingPrerequisite(f"no saved plan; run `make plan ENV={environment.name}` first")
    _run(binary, directory, "apply", "-input=false", PLAN_FILE)


def deploy(environment: Environment) -> None:
    plan(environment)
    apply(environment)


SERVICE_USAGE = "https://serviceusage.googleapis.com"


def bootstrap(environment: Environment) -> str:
    """Enable the APIs Terraform calls before it can plan, and create the state bucket if it does
    not exist; return what was done."""
    enabled = enable_bootstrap_apis(environment)
    return f"{enabled}\n{_state_bucket_ready(environment)}"


def enable_bootstrap_apis(environment: Environment) -> str:
    """Service Usage (to enable the rest) and Resource Manager (to read the project and its IAM),
    enabled in one call (cloud.google.com/service-usage/docs/reference/rest/v1/services/batchEnable)."""
    from google.auth.transport.requests import AuthorizedSession

    session = AuthorizedSession(google_credentials(environment.project_id))
    response = session.post(
        f"{SERVICE_USAGE}/v1/projects/{environment.project_id}/services:batchEnable",
        json={"serviceIds": list(BOOTSTRAP_APIS)},
        timeout=60,
    )
    if response.status_code >= 400:
        raise MissingPrerequisite(
            f"enabling {', '.join(BOOTSTRAP_APIS)} failed with {response.status_code}; enable them as a project "
            f"administrator: gcloud services enable {' '.join(BOOTSTRAP_APIS)} --project {environment.project_id}"
        )
    return f"enabled {', '.join(BOOTSTRAP_APIS)} in {environment.project_id}"


def _state_bucket_ready(environment: Environment) -> str:
    from google.cloud import storage

    client = storage.Client(project=environment.project_id, credentials=_storage_credentials(environment))
    bucket = client.bucket(environment.state_bucket)
    if bucket.exists():
        bucket.reload()
        if not bucket.versioning_enabled:
            bucket.versioning_enabled = True
            bucket.patch()
            return f"gs://{bucket.name} exists; versioning turned on"
        return f"gs://{bucket.name} exists and is versioned; nothing to do"
    bucket.versioning_enabled = True
    bucket.iam_configuration.uniform_bucket_level_access_enabled = True
    bucket.iam_configuration.public_access_prevention = "enforced"
    bucket.labels = environment.resource_labels() | {"purpose": "terraform-state"}
    client.create_bucket(bucket, location=environment.region)
    return f"gs://{bucket.name} created in {environment.region}: versioned, uniform access, never public"


def real_plans() -> str:
    """Which environments' pull requests also show the plan against the real state."""
    from environments.loading import load_environments

    lines = []
    for environment in load_environments():
        planner = environment.delivery.plan_service_account if environment.delivery else None
        lines.append(
            f"{environment.name}: the real plan runs in trigger {environment.name}-pull-request-plan as {planner}"
            if planner
            else f"{environment.name}: no read-only planning identity (delivery.plan_service_account), so no real "
            "plan; these checks are the offline ones"
        )
    return "\n".join(lines)


def _storage_credentials(environment: Environment):
    if os.environ.get("STORAGE_EMULATOR_HOST"):  # local emulator: no Google account involved
        from google.auth.credentials import AnonymousCredentials

        return AnonymousCredentials()
    return google_credentials(environment.project_id)


def prerequisites(environment: Environment) -> str:
    """Terraform (or OpenTofu) and Google credentials for the environment's project, checked before
    anything is synthesized: without them a plan stops after the seconds synth takes."""
    binary = terraform_binary()
    google_credentials(environment.project_id)
    return (
        f"{environment.name}: {Path(binary).name} and Google credentials found (their access to "
        f"{environment.project_id} is checked by the plan itself)"
    )


COMMANDS = {
    "prerequisites": prerequisites,
    "plan": plan,
    "apply": apply,
    "deploy": deploy,
    "bootstrap": bootstrap,
    "plan-release": plan_release,
    "apply-release": apply_release,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=sorted([*COMMANDS, "real-plans"]))
    parser.add_argument("--env", help="environment name (environments/<name>.yaml)")
    parser.add_argument("--read-only", action="store_true", help="plan: no state lock, nothing saved")
    args = parser.parse_args(argv)
    try:
        if args.command == "real-plans":
            print(real_plans())
            return 0
        if not args.env:
            raise ConfigError([f"ENV: required by {args.command}; expected e.g. ENV=dev"])
        environment = load_environment(args.env)
        options = {"read_only": True} if args.read_only and args.command == "plan" else {}
        result = COMMANDS[args.command](environment, **options)
    except (ConfigError, *not_ready()) as error:
        return refused(error, f"{args.command} {args.env}")
    except subprocess.CalledProcessError as error:
        print(f"{args.command} {args.env}: {Path(error.cmd[0]).name} exited with {error.returncode}", file=sys.stderr)
        return 1
    if isinstance(result, str):
        print(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
