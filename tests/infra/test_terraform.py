"""plan/deploy/bootstrap: clear messages when the binary or credentials are missing; bootstrap
creates a private, versioned state bucket (against the local GCS emulator)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from environments.config import load_environment
from tests.conftest import REPO_ROOT
from tests.http_capture import CapturedRequest, CaptureServer


def run_terraform(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("GOOGLE_", "CLOUDSDK_"))}
    return subprocess.run(
        [sys.executable, "-m", "infra.terraform", *args],
        cwd=REPO_ROOT,
        env=environ | env,
        capture_output=True,
        text=True,
        check=False,
    )


def test_missing_binary_says_how_to_get_one(tmp_path: Path):
    result = run_terraform("plan", "--env", "dev", PATH=str(tmp_path))
    assert result.returncode == 2
    assert result.stderr.startswith("plan dev: neither terraform nor tofu is on PATH; install Terraform")
    assert "Traceback" not in result.stderr


def test_missing_credentials_say_how_to_get_them(tmp_path: Path):
    fake = tmp_path / "terraform"
    fake.write_text("#!/bin/sh\necho should-not-run; exit 9\n")
    fake.chmod(0o755)
    result = run_terraform(
        "deploy", "--env", "prod", TERRAFORM=str(fake), HOME=str(tmp_path), NO_GCE_CHECK="True", PATH=os.environ["PATH"]
    )
    assert result.returncode == 2
    assert result.stderr == (
        "deploy prod: no Google Cloud credentials found; run `gcloud auth application-default login` (with access "
        "to project acme-mlops-prod), set GOOGLE_APPLICATION_CREDENTIALS, or run in Cloud Build\n"
    )
    assert "should-not-run" not in result.stdout


def test_make_plan_without_env_names_the_environments():
    result = subprocess.run(
        ["make", "--no-print-directory", "plan"], cwd=REPO_ROOT, capture_output=True, text=True, check=False
    )
    assert result.returncode != 0
    assert "ENV is required, e.g. `make plan ENV=dev` (environments: dev prod)" in result.stderr


def test_bootstrap_creates_a_versioned_private_state_bucket(monkeypatch):
    from infra.terraform import bootstrap

    def respond(request: CapturedRequest):
        if request.method == "POST" and request.path == "/storage/v1/b":
            return 200, request.json()
        return None  # the bucket does not exist yet

    dev = load_environment("dev")
    with CaptureServer(respond) as server:
        monkeypatch.setenv("STORAGE_EMULATOR_HOST", server.url)
        assert bootstrap(dev) == (
            "gs://acme-mlops-dev-tfstate created in europe-west1: versioned, uniform access, never public"
        )
    lookup, create = server.requests
    assert (lookup.method, lookup.path) == ("GET", "/storage/v1/b/acme-mlops-dev-tfstate")
    assert (create.method, create.path, create.query["project"]) == ("POST", "/storage/v1/b", ["acme-mlops-dev"])
    assert create.json() == {
        "name": "acme-mlops-dev-tfstate",
        "location": "europe-west1",
        "versioning": {"enabled": True},
        "iamConfiguration": {
            "uniformBucketLevelAccess": {"enabled": True},
            "publicAccessPrevention": "enforced",
        },
        "labels": {
            "cost-center": "ml-platform",
            "env": "dev",
            "managed-by": "mlops-platform",
            "purpose": "terraform-state",
        },
    }


def test_bootstrap_leaves_an_existing_versioned_bucket_alone(monkeypatch):
    from infra.terraform import bootstrap

    dev = load_environment("dev")
    with CaptureServer(lambda r: (200, {"name": dev.state_bucket, "versioning": {"enabled": True}})) as server:
        monkeypatch.setenv("STORAGE_EMULATOR_HOST", server.url)
        assert bootstrap(dev) == "gs://acme-mlops-dev-tfstate exists and is versioned; nothing to do"
    assert [r.method for r in server.requests] == ["GET", "GET"]


def test_bootstrap_turns_on_versioning_of_an_existing_bucket(monkeypatch):
    from infra.terraform import bootstrap

    dev = load_environment("dev")
    with CaptureServer(lambda r: (200, {"name": dev.state_bucket})) as server:
        monkeypatch.setenv("STORAGE_EMULATOR_HOST", server.url)
        assert bootstrap(dev) == "gs://acme-mlops-dev-tfstate exists; versioning turned on"
    patch = server.requests[-1]
    assert (patch.method, patch.path) == ("PATCH", "/storage/v1/b/acme-mlops-dev-tfstate")
    assert patch.json() == {"versioning": {"enabled": True}}
