"""The platform's own rules, checked on every resource of a stack while it synthesizes.

A violation refuses the synth with a line naming the offending resource's construct path, the
rule and what was expected. The rules are not suppressible: fix the resource. They read
the document synth wrote for the stack (infra/stack_checks.py), not each construct through jsii.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from cdktn import TerraformStack

from infra.stack_checks import StackDocument, add_stack_check

REQUIRED_LABELS = ("env", "managed-by")
# Resource types whose `labels` attribute is configuration, with the attribute that holds their labels.
LABEL_ATTRIBUTES = {"google_monitoring_notification_channel": "user_labels"}
PRIMITIVE_ROLES = frozenset({"roles/owner", "roles/editor", "roles/viewer"})
PUBLIC_MEMBERS = frozenset({"allUsers", "allAuthenticatedUsers"})


@dataclass(frozen=True)
class Rule:
    id: str
    description: str
    check: Callable[[type, str, dict[str, Any]], Iterator[str]]  # (construct class, type, attributes)


def _required_labels(resource_class: type, resource_type: str, attributes: dict[str, Any]) -> Iterator[str]:
    attribute = LABEL_ATTRIBUTES.get(resource_type, "labels")
    if not hasattr(resource_class, f"{attribute}_input"):  # the resource type has no labels
        return
    labels = attributes.get(attribute) or {}
    missing = [key for key in REQUIRED_LABELS if key not in labels]
    if missing:
        expected = ", ".join(REQUIRED_LABELS)
        yield f"{attribute} lack {', '.join(missing)}; expected every labelled resource to carry {expected}"


def _no_primitive_roles(resource_class: type, resource_type: str, attributes: dict[str, Any]) -> Iterator[str]:
    role = attributes.get("role")
    if role in PRIMITIVE_ROLES:
        yield f"grants {role}; expected a predefined role scoped to what the workload does"


def _no_public_members(resource_class: type, resource_type: str, attributes: dict[str, Any]) -> Iterator[str]:
    members = [attributes.get("member"), *(attributes.get("members") or [])]
    for member in members:
        if member in PUBLIC_MEMBERS:
            yield f"grants access to {member}; expected named service accounts, groups or users"


def _additive_iam_only(resource_class: type, resource_type: str, attributes: dict[str, Any]) -> Iterator[str]:
    if resource_type.endswith(("_iam_policy", "_iam_binding")):
        yield "is authoritative and would remove grants made elsewhere; expected the additive *_iam_member form"


def _no_service_account_keys(resource_class: type, resource_type: str, attributes: dict[str, Any]) -> Iterator[str]:
    if resource_type == "google_service_account_key":
        yield "creates a service account key; expected workloads to use their platform's identity, never keys"


def _private_uniform_buckets(resource_class: type, resource_type: str, attributes: dict[str, Any]) -> Iterator[str]:
    if resource_type != "google_storage_bucket":
        return
    if attributes.get("uniform_bucket_level_access") is not True:
        yield "uniform_bucket_level_access is not true; expected uniform (IAM-only) access"
    prevention = attributes.get("public_access_prevention")
    if prevention != "enforced":
        yield f"public_access_prevention is {prevention!r}; expected 'enforced'"


RULES = (
    Rule("required-labels", "labelled resources carry env and managed-by", _required_labels),
    Rule("no-primitive-roles", "no owner, editor or viewer grants", _no_primitive_roles),
    Rule("no-public-members", "no allUsers or allAuthenticatedUsers", _no_public_members),
    Rule("additive-iam-only", "IAM as additive members, never authoritative policies", _additive_iam_only),
    Rule("no-service-account-keys", "no service account keys", _no_service_account_keys),
    Rule("private-uniform-buckets", "buckets are uniform and never public", _private_uniform_buckets),
)


def violations(resource_class: type, resource_type: str, attributes: dict[str, Any]) -> Iterator[str]:
    """Every rule's complaints about one resource, as '[rule] what is wrong; what was expected'."""
    for rule in RULES:
        for problem in rule.check(resource_class, resource_type, attributes):
            yield f"[{rule.id}] {resource_type} {problem}"


class PlatformPolicy:
    """Fails synth on any resource of the stack that breaks a platform rule."""

    @classmethod
    def attach(cls, stack: TerraformStack) -> None:
        add_stack_check(stack, cls.check)

    @staticmethod
    def check(stack: StackDocument) -> None:
        for resource_type, _, attributes in stack.elements("resource"):
            for problem in violations(stack.class_of(resource_type), resource_type, attributes):
                stack.add_error(attributes, problem)
