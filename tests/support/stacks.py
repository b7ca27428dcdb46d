"""Reading synthesized stacks, and synthesizing fixture environments in this process."""

from __future__ import annotations

import json
from pathlib import Path


def resources(stack: dict, resource_type: str) -> dict[str, dict]:
    return stack.get("resource", {}).get(resource_type, {})


def by_path(stack: dict, resource_type: str) -> dict[str, dict]:
    """Resources of a type keyed by construct path without the stack prefix."""
    return {body["//"]["metadata"]["path"].split("/", 1)[1]: body for body in resources(stack, resource_type).values()}


def all_resources(stack: dict):
    for resource_type, items in stack.get("resource", {}).items():
        for body in items.values():
            yield resource_type, body


def account_of(member: str) -> str:
    """`${google_service_account.pipelines-runner_account_70FB3B25.member}` -> `pipelines-runner`;
    members that are not accounts of the stack stay as they are."""
    return member.split(".")[1].rsplit("_", 2)[0] if member.startswith("${") else member


def synthesized(environments: list, outdir: Path, **stack_options) -> dict[str, dict]:
    """Synthesize stacks of `environments` in this process; their parsed cdk.tf.json by name."""
    from infra.app import cdktf_context
    from infra.deployed import function_archives
    from infra.stack_checks import CheckedApp
    from infra.stacks.platform import PlatformStack

    app = CheckedApp(outdir=str(outdir), context=cdktf_context())
    archives = function_archives(outdir / "archives")
    for environment in environments:
        PlatformStack(app, environment, archives=archives, **stack_options)
    app.synth()
    return {e.name: json.loads((outdir / "stacks" / e.name / "cdk.tf.json").read_text()) for e in environments}
