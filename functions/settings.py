"""Each function's environment variables, derived from the environment file.

The stack deploys functions with these; `make serve` runs them locally with the local overrides.
"""

from __future__ import annotations

import json

from environments.config import Environment
from pipelines.spec import DataSpec
from pipelines.vertex import Target, default_registry_uri

FUNCTIONS = ("pipeline_trigger", "predict")
ENTRY_POINTS = {"pipeline_trigger": "trigger", "predict": "predict"}


def environment_variables(function: str, environment: Environment, team_accounts: dict[str, str]) -> dict[str, str]:
    names = environment.names
    registry = default_registry_uri(environment.project_id, environment.region)
    if function == "pipeline_trigger":
        return Target.of(environment, team_accounts).variables() | {
            "TEMPLATE_REPOSITORY": names.kfp_repository_url,
            "DRY_RUN": "false",
        }
    if function == "predict":
        return {
            "REGISTRY_URI": registry,
            "DATA_SPEC": json.dumps(DataSpec().to_dict(), sort_keys=True),
            "CHAMPION_CHECK_SECONDS": "60",
        }
    raise ValueError(f"unknown function {function!r}; expected one of {', '.join(FUNCTIONS)}")
