"""Builds the CDK Terrain app: one PlatformStack per environment."""

from __future__ import annotations

import json
from pathlib import Path

from environments.schema import Environment
from infra import INFRA_DIR
from infra.stack_checks import CheckedApp
from infra.stacks.platform import PlatformStack


def cdktf_context() -> dict:
    """The feature flags of cdktf.json, which the cdktn CLI would otherwise pass in."""
    return json.loads((INFRA_DIR / "cdktf.json").read_text())["context"]


def build_app(environments: list[Environment], outdir: Path, archives: dict[str, Path]) -> CheckedApp:
    """One stack per environment, written into `outdir`; every stack deploys the same function
    `archives` (`infra.deployed.function_archives`)."""
    app = CheckedApp(outdir=str(outdir), context=cdktf_context())
    for environment in environments:
        PlatformStack(app, environment, archives=archives)
    return app
