"""The synth-time aspects fail synth on deliberately bad constructs, naming resource and rule."""

from __future__ import annotations

from pathlib import Path

import pytest
from cdktn import TerraformStack
from cdktn_provider_google.project_iam_member import ProjectIamMember
from cdktn_provider_google.provider import GoogleProvider
from cdktn_provider_google.service_account import ServiceAccount
from cdktn_provider_google.service_account_key import ServiceAccountKey
from cdktn_provider_google.storage_bucket import StorageBucket
from cdktn_provider_google.storage_bucket_iam_binding import StorageBucketIamBinding
from cdktn_provider_google.storage_bucket_iam_member import StorageBucketIamMember

from infra.policy import PolicyViolation
from infra.policy.rules import PlatformPolicy
from infra.stack_checks import CheckedApp

GOOD_LABELS = {"env": "test", "managed-by": "mlops-platform"}


def synth_errors(build, tmp_path: Path) -> list[str]:
    """Build one stack with `build(stack)`, attach the policy, synthesize; return the violations."""
    app = CheckedApp(outdir=str(tmp_path))
    stack = TerraformStack(app, "policy-test")
    GoogleProvider(stack, "google", project="policy-test-project", region="europe-west1")
    build(stack)
    PlatformPolicy.attach(stack)
    try:
        app.synth()
    except PolicyViolation as error:
        return error.problems
    return []


def good_bucket(stack, id="good", **overrides):
    options = (
        dict(
            name=f"{id}-bucket",
            location="EU",
            uniform_bucket_level_access=True,
            public_access_prevention="enforced",
            labels=GOOD_LABELS,
        )
        | overrides
    )
    return StorageBucket(stack, id, **options)


def test_a_compliant_stack_synthesizes(tmp_path):
    def build(stack):
        bucket = good_bucket(stack)
        account = ServiceAccount(stack, "sa", account_id="reader-sa")
        StorageBucketIamMember(
            stack, "read", bucket=bucket.name, role="roles/storage.objectViewer", member=account.member
        )

    assert synth_errors(build, tmp_path) == []
    assert (tmp_path / "stacks" / "policy-test" / "cdk.tf.json").exists()


def test_public_non_uniform_unlabelled_bucket_is_refused_with_every_reason(tmp_path):
    errors = synth_errors(lambda stack: StorageBucket(stack, "leaky", name="leaky", location="EU"), tmp_path)
    assert errors == [
        "[policy-test/leaky] [required-labels] google_storage_bucket labels lack env, managed-by; "
        "expected every labelled resource to carry env, managed-by",
        "[policy-test/leaky] [private-uniform-buckets] google_storage_bucket uniform_bucket_level_access is not "
        "true; expected uniform (IAM-only) access",
        "[policy-test/leaky] [private-uniform-buckets] google_storage_bucket public_access_prevention is None; "
        "expected 'enforced'",
    ]


@pytest.mark.parametrize(
    ("member", "role", "rule"),
    [
        ("allUsers", "roles/storage.objectViewer", "no-public-members"),
        ("allAuthenticatedUsers", "roles/storage.objectViewer", "no-public-members"),
        ("group:ml@example.com", "roles/editor", "no-primitive-roles"),
    ],
)
def test_public_members_and_primitive_roles_are_refused(tmp_path, member, role, rule):
    def build(stack):
        bucket = good_bucket(stack)
        StorageBucketIamMember(stack, "grant", bucket=bucket.name, role=role, member=member)

    (error,) = synth_errors(build, tmp_path)
    assert error.startswith(f"[policy-test/grant] [{rule}] google_storage_bucket_iam_member grants ")


def test_primitive_project_role_is_refused(tmp_path):
    def build(stack):
        ProjectIamMember(stack, "owner", project="policy-test-project", role="roles/owner", member="user:a@b.com")

    assert synth_errors(build, tmp_path) == [
        "[policy-test/owner] [no-primitive-roles] google_project_iam_member grants roles/owner; "
        "expected a predefined role scoped to what the workload does"
    ]


def test_authoritative_bindings_and_keys_are_refused(tmp_path):
    def build(stack):
        bucket = good_bucket(stack)
        StorageBucketIamBinding(
            stack, "binding", bucket=bucket.name, role="roles/storage.objectViewer", members=["group:ml@example.com"]
        )
        account = ServiceAccount(stack, "sa", account_id="keyed-sa")
        ServiceAccountKey(stack, "key", service_account_id=account.name)

    errors = synth_errors(build, tmp_path)
    assert sorted(e.split("] [")[1].split("]")[0] for e in errors) == ["additive-iam-only", "no-service-account-keys"]
