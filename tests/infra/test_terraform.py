"""plan/deploy/bootstrap: clear messages when the binary or credentials are missing; bootstrap
creates a private, versioned state bucket (against the local GCS emulator)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from environments.loading import ENVIRONMENTS_DIR_VARIABLE, REPO_ROOT, load_environment
from tests.http_capture import CapturedRequest, CaptureServer
from tests.support.environments import COMMITTED, write_operated
from tests.support.stacks import synthesized


@pytest.fixture(autouse=True)
def operated(environments_dir):
    """dev and prod as these tests know them (their recorded responses name these projects)."""
    return write_operated(environments_dir)


@pytest.fixture(scope="module")
def prod_stack(tmp_path_factory) -> Path:
    """The synthesized stack of this module's prod (tests copy it, never change it)."""
    directory = write_operated(tmp_path_factory.mktemp("operated"))
    outdir = tmp_path_factory.mktemp("synth")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(ENVIRONMENTS_DIR_VARIABLE, str(directory))
        synthesized([load_environment("prod")], outdir)
    return outdir / "stacks" / "prod"


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


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (
            None,
            "GOOGLE_APPLICATION_CREDENTIALS names '{path}', which is not a file; expected the file `gcloud auth "
            "application-default login` writes, or the variable unset",
        ),
        (
            "garbage",
            "GOOGLE_APPLICATION_CREDENTIALS: File {path} is not a valid json file; expected the file `gcloud "
            "auth application-default login` writes (or a service account's), or the variable unset",
        ),
        (
            "[]",
            "GOOGLE_APPLICATION_CREDENTIALS: File {path} holds no JSON object; expected the file `gcloud auth "
            "application-default login` writes (or a service account's), or the variable unset",
        ),
    ],
    ids=["no file", "not credentials", "JSON but no object"],
)
def test_a_credentials_variable_that_names_no_credentials_is_named_with_what_is_wrong(tmp_path: Path, content, problem):
    fake = tmp_path / "terraform"
    fake.write_text("#!/bin/sh\nexit 9\n")
    fake.chmod(0o755)
    path = tmp_path / "adc.json"
    if content is not None:
        path.write_text(content)
    result = run_terraform(
        "prerequisites", "--env", "dev", TERRAFORM=str(fake), GOOGLE_APPLICATION_CREDENTIALS=str(path)
    )
    assert result.returncode == 2
    assert result.stderr == f"prerequisites dev: {problem.format(path=path)}\n"


def test_make_plan_checks_the_prerequisites_before_it_synthesizes(tmp_path: Path):
    """Without credentials a plan stops at once, not after the seconds synth takes."""
    fake = tmp_path / "terraform"
    fake.write_text("#!/bin/sh\nexit 9\n")
    fake.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GOOGLE_", "CLOUDSDK_"))}
    result = subprocess.run(
        ["make", "--no-print-directory", "plan", "ENV=dev"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
        env=env | {"TERRAFORM": str(fake), "HOME": str(tmp_path), "NO_GCE_CHECK": "True"},
    )
    assert result.returncode != 0
    assert result.stderr.startswith("prerequisites dev: no Google Cloud credentials found; ")
    assert "infra.synth" not in result.stdout, "nothing was synthesized"


def test_make_plan_without_env_names_the_environments():
    result = subprocess.run(
        ["make", "--no-print-directory", "plan"], cwd=REPO_ROOT, capture_output=True, text=True, check=False
    )
    assert result.returncode != 0
    assert f"ENV is required, e.g. `make plan ENV=dev` (environments: {' '.join(COMMITTED)})" in result.stderr


ENABLE = "/v1/projects/acme-mlops-dev/services:batchEnable"


@pytest.fixture
def google(monkeypatch):
    """Anonymous credentials, and Service Usage and Cloud Storage pointed at a capture server."""
    from google.auth.credentials import AnonymousCredentials

    import infra.terraform

    def serve(respond):
        server = CaptureServer(respond)
        monkeypatch.setattr(infra.terraform, "google_credentials", lambda project: AnonymousCredentials())
        monkeypatch.setattr(infra.terraform, "SERVICE_USAGE", server.url)
        monkeypatch.setenv("STORAGE_EMULATOR_HOST", server.url)
        return server

    return serve


def enabled(request: CapturedRequest):
    if request.method == "POST" and request.path == ENABLE:
        return 200, {"name": "operations/acf.p2-1"}
    return None


def test_bootstrap_enables_what_terraform_needs_and_creates_a_versioned_private_state_bucket(google):
    from infra.terraform import bootstrap

    def respond(request: CapturedRequest):
        if request.method == "POST" and request.path == "/storage/v1/b":
            return 200, request.json()
        return enabled(request)  # otherwise 404: the bucket does not exist yet

    dev = load_environment("dev")
    with google(respond) as server:
        assert bootstrap(dev) == (
            "enabled serviceusage.googleapis.com, cloudresourcemanager.googleapis.com in acme-mlops-dev\n"
            "gs://acme-mlops-dev-tfstate created in europe-west1: versioned, uniform access, never public"
        )
    enable, lookup, create = server.requests
    assert (enable.method, enable.path) == ("POST", ENABLE)
    assert enable.json() == {"serviceIds": ["serviceusage.googleapis.com", "cloudresourcemanager.googleapis.com"]}
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


def test_bootstrap_leaves_an_existing_versioned_bucket_alone(google):
    from infra.terraform import bootstrap

    dev = load_environment("dev")
    with google(lambda r: enabled(r) or (200, {"name": dev.state_bucket, "versioning": {"enabled": True}})) as server:
        assert bootstrap(dev).endswith("\ngs://acme-mlops-dev-tfstate exists and is versioned; nothing to do")
    assert [r.method for r in server.requests] == ["POST", "GET", "GET"]


def test_bootstrap_turns_on_versioning_of_an_existing_bucket(google):
    from infra.terraform import bootstrap

    dev = load_environment("dev")
    with google(lambda r: enabled(r) or (200, {"name": dev.state_bucket})) as server:
        assert bootstrap(dev).endswith("\ngs://acme-mlops-dev-tfstate exists; versioning turned on")
    patch = server.requests[-1]
    assert (patch.method, patch.path) == ("PATCH", "/storage/v1/b/acme-mlops-dev-tfstate")
    assert patch.json() == {"versioning": {"enabled": True}}


def test_bootstrap_says_how_to_enable_the_apis_by_hand_when_it_may_not(google):
    from environments.credentials import MissingPrerequisite
    from infra.terraform import bootstrap

    with google(lambda r: (403, {"error": {"code": 403}})), pytest.raises(MissingPrerequisite) as refused:
        bootstrap(load_environment("dev"))
    assert str(refused.value) == (
        "enabling serviceusage.googleapis.com, cloudresourcemanager.googleapis.com failed with 403; enable them as a "
        "project administrator: gcloud services enable serviceusage.googleapis.com "
        "cloudresourcemanager.googleapis.com --project acme-mlops-dev"
    )


# A stand-in for the terraform binary: logs its arguments; `plan -out=F` writes F, `show -json`
# prints a plan with one of each kind of change.
FAKE_TERRAFORM = """#!/bin/sh
echo "$@" >> "$TERRAFORM_LOG"
case "$2" in
  plan) for a in "$@"; do case "$a" in -out=*) echo "plan-bytes" > "${1#-chdir=}/${a#-out=}";; esac; done;;
  show) echo '{"resource_changes": [
    {"address": "google_storage_bucket.data", "change": {"actions": ["create"]}},
    {"address": "google_storage_bucket.logs", "change": {"actions": ["no-op"]}},
    {"address": "google_service_account.runner", "change": {"actions": ["update"]}},
    {"address": "google_kms_crypto_key.key", "change": {"actions": ["delete", "create"]}}]}';;
esac
"""


@pytest.fixture
def release(google, gcs_emulator, prod_stack, tmp_path, monkeypatch):
    """prod's synthesized stack in a scratch folder, the fake terraform, and the state bucket on the
    GCS emulator."""
    import shutil

    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    import infra.terraform

    outdir = tmp_path / "cdktf.out"
    shutil.copytree(prod_stack, outdir / "stacks" / "prod")
    binary = tmp_path / "terraform"
    binary.write_text(FAKE_TERRAFORM)
    binary.chmod(0o755)
    monkeypatch.setattr(infra.terraform, "OUT_DIR", outdir)
    monkeypatch.setattr(infra.terraform, "google_credentials", lambda project: AnonymousCredentials())
    monkeypatch.setattr(infra.terraform, "_metadata_store_exists", lambda name, region, credentials: False)
    monkeypatch.setenv("TERRAFORM", str(binary))
    monkeypatch.setenv("TERRAFORM_LOG", str(tmp_path / "terraform.log"))
    monkeypatch.setenv("COMMIT_SHA", "0123456789ab")
    client = storage.Client(project="acme-mlops-prod", credentials=AnonymousCredentials())
    client.create_bucket("acme-mlops-prod-tfstate")
    return outdir / "stacks" / "prod", client.bucket("acme-mlops-prod-tfstate"), tmp_path / "terraform.log"


def test_a_release_plan_is_shown_and_saved_with_its_commit_and_stack(release, capsys):
    from infra.terraform import plan_release

    stack, bucket, _ = release
    assert plan_release(load_environment("prod")) == (
        "saved gs://acme-mlops-prod-tfstate/plans/prod/0123456789ab/ for approval; run the prod-apply trigger "
        "for this tag"
    )
    summary = (
        "plan of prod at 0123456789ab:\n"
        "  + google_storage_bucket.data\n"
        "  ~ google_service_account.runner\n"
        "  -/+ google_kms_crypto_key.key"
    )
    assert summary in capsys.readouterr().out
    saved = {b.name: b.download_as_bytes() for b in bucket.list_blobs(prefix="plans/")}
    assert saved["plans/prod/0123456789ab/plan.tfplan"] == b"plan-bytes\n"
    assert saved["plans/prod/0123456789ab/summary.txt"].decode() == summary + "\n"
    import hashlib

    assert json.loads(saved["plans/prod/0123456789ab/release.json"]) == {
        "environment": "prod",
        "commit": "0123456789ab",
        "stack_sha256": hashlib.sha256((stack / "cdk.tf.json").read_bytes()).hexdigest(),
    }


def test_the_approved_apply_applies_exactly_the_saved_plan(release, monkeypatch):
    from infra.terraform import apply_release, plan_release

    stack, _, log = release
    plan_release(load_environment("prod"))
    (stack / "plan.tfplan").unlink()
    log.unlink()
    apply_release(load_environment("prod"))
    assert (stack / "plan.tfplan").read_text() == "plan-bytes\n"
    assert log.read_text().splitlines() == [
        f"-chdir={stack} init -input=false -reconfigure",
        f"-chdir={stack} apply -input=false plan.tfplan",
    ]


def test_the_apply_refuses_another_commit_or_a_changed_stack(release, monkeypatch):
    from environments.credentials import MissingPrerequisite
    from infra.terraform import apply_release, plan_release

    stack, _, log = release
    plan_release(load_environment("prod"))
    monkeypatch.setenv("COMMIT_SHA", "fedcba987654")
    with pytest.raises(MissingPrerequisite, match="no saved plan for commit fedcba987654"):
        apply_release(load_environment("prod"))
    monkeypatch.setenv("COMMIT_SHA", "0123456789ab")
    (stack / "cdk.tf.json").write_text((stack / "cdk.tf.json").read_text().replace("acme-mlops-prod-data", "other"))
    log.unlink()
    with pytest.raises(MissingPrerequisite, match="the synthesized stack differs from the one planned"):
        apply_release(load_environment("prod"))
    assert not log.exists(), "terraform never ran"


@pytest.mark.parametrize(("exists", "adopted"), [(True, True), (False, False)])
def test_an_existing_metadata_store_is_adopted_by_an_import_block(prod_stack, tmp_path, monkeypatch, exists, adopted):
    import shutil

    from google.auth.credentials import AnonymousCredentials

    from infra.terraform import ADOPT_FILE, adopt_existing
    from tests.http_capture import vertex_ai

    stack = tmp_path / "prod"
    shutil.copytree(prod_stack, stack)
    store = "projects/acme-mlops-prod/locations/europe-west1/metadataStores/default"

    def respond(request: CapturedRequest):
        if request.method == "GET" and request.path == f"/v1/{store}" and exists:
            return 200, {"name": store}
        return None

    with vertex_ai(respond, monkeypatch) as server:
        found = adopt_existing(load_environment("prod"), stack, AnonymousCredentials())
    assert [(r.method, r.path) for r in server.requests] == [("GET", f"/v1/{store}")]
    assert found == ([store] if adopted else [])
    if adopted:
        (logical_id,) = json.loads((stack / "cdk.tf.json").read_text())["resource"]["google_vertex_ai_metadata_store"]
        assert json.loads((stack / ADOPT_FILE).read_text()) == {
            "import": [{"to": f"google_vertex_ai_metadata_store.{logical_id}", "id": store, "provider": "google-beta"}]
        }
    else:
        assert not (stack / ADOPT_FILE).exists()


def test_a_refusal_names_its_command_and_environment_once(environments_dir: Path, tmp_path: Path, monkeypatch, capsys):
    """`apply dev: no saved plan; ...`, not `apply dev: dev: ...`: main names where, the reason what."""
    import infra.terraform as terraform

    write_operated(environments_dir)
    monkeypatch.setattr(terraform, "terraform_binary", lambda: "terraform")  # not installed here
    monkeypatch.setattr(terraform, "google_credentials", lambda project_id: None)  # no cloud here
    monkeypatch.setattr(terraform, "OUT_DIR", tmp_path / "cdktf.out")  # nothing synthesized
    assert terraform.main(["apply", "--env", "dev"]) == 2
    assert capsys.readouterr().err == "apply dev: no synthesized stack; run `make synth ENV=dev`\n"
