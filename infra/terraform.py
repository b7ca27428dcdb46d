"""`make plan|deploy|bootstrap ENV=`: Terraform (or OpenTofu) on a synthesized stack.

plan    init against the environment's state bucket, then write `plan.tfplan` beside the stack
apply   apply exactly the saved plan
deploy  plan, then apply
bootstrap  create the versioned, private state bucket that `init` needs (once per environment)

Before anything runs, the binary and Google credentials are checked, with a message saying how to
get each when it is missing. `TERRAFORM=/path/to/tofu` picks the binary; otherwise terraform, then
tofu, is taken from PATH.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

from environments.config import ConfigError, Environment, load_environment
from environments.credentials import MissingPrerequisite, google_credentials
from infra import OUT_DIR

PLAN_FILE = "plan.tfplan"


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


def stack_dir(environment: Environment, outdir: Path = OUT_DIR) -> Path:
    path = outdir / "stacks" / environment.name
    if not (path / "cdk.tf.json").exists():
        raise MissingPrerequisite(f"{environment.name}: no synthesized stack; run `make synth ENV={environment.name}`")
    return path


def _run(binary: str, directory: Path, *args: str) -> None:
    print(f"$ {Path(binary).name} {' '.join(args)}", flush=True)
    subprocess.run([binary, f"-chdir={directory}", *args], check=True)


def plan(environment: Environment) -> Path:
    binary = terraform_binary()
    google_credentials(environment.project_id)
    directory = stack_dir(environment)
    _run(binary, directory, "init", "-input=false", "-reconfigure")
    _run(binary, directory, "plan", "-input=false", f"-out={PLAN_FILE}")
    return directory / PLAN_FILE


def apply(environment: Environment) -> None:
    """Apply the plan `make plan` saved: what was reviewed is what changes."""
    binary = terraform_binary()
    google_credentials(environment.project_id)
    directory = stack_dir(environment)
    if not (directory / PLAN_FILE).exists():
        raise MissingPrerequisite(f"{environment.name}: no saved plan; run `make plan ENV={environment.name}` first")
    _run(binary, directory, "apply", "-input=false", PLAN_FILE)


def deploy(environment: Environment) -> None:
    plan(environment)
    apply(environment)


def bootstrap(environment: Environment) -> str:
    """Create the state bucket if it does not exist; return what was done."""
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


def _storage_credentials(environment: Environment):
    if os.environ.get("STORAGE_EMULATOR_HOST"):  # local emulator: no Google account involved
        from google.auth.credentials import AnonymousCredentials

        return AnonymousCredentials()
    return google_credentials(environment.project_id)


COMMANDS = {"plan": plan, "apply": apply, "deploy": deploy, "bootstrap": bootstrap}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=sorted(COMMANDS))
    parser.add_argument("--env", required=True, help="environment name (environments/<name>.yaml)")
    args = parser.parse_args(argv)
    try:
        result = COMMANDS[args.command](load_environment(args.env))
    except ConfigError as error:
        print("\n".join(error.problems), file=sys.stderr)
        return 2
    except MissingPrerequisite as error:
        print(f"{args.command} {args.env}: {error}", file=sys.stderr)
        return 2
    except subprocess.CalledProcessError as error:
        print(f"{args.command} {args.env}: {Path(error.cmd[0]).name} exited with {error.returncode}", file=sys.stderr)
        return 1
    if isinstance(result, str):
        print(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
