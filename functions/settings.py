"""Each function's settings: the one owner of its environment variables.

The stack deploys a function with `settings.to_env()`; `make serve` starts it with the same
settings, locally overridden; the function reads them once per instance with `from_env()`.
Plain Python (no pydantic): the function archives ship it.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from environments.messages import kind_of
from pipelines.logic.model_names import default_registry_uri, unreadable_registry
from pipelines.logic.parameters import data_spec_problems
from pipelines.logic.spec import DataSpec
from pipelines.ops.vertex import Target

if TYPE_CHECKING:
    from environments.schema import Environment

FUNCTIONS = ("pipeline_trigger", "predict")
ENTRY_POINTS = {"pipeline_trigger": "trigger", "predict": "predict"}
# Requests an instance of a function receives at a time (service_config.max_instance_request_concurrency,
# set by the stack). 1 is Cloud Run functions' own default: "each instance can handle only one request
# at a time" (cloud.google.com/functions/docs/configuring/max-instances).
REQUEST_CONCURRENCY = 1
# The longest a request may take (service_config.timeout_seconds). `make serve` gives the local
# server the same (functions-framework's CLOUD_RUN_TIMEOUT_SECONDS, its gunicorn timeout): a client
# that stalls its headers or trickles its body holds the one worker at most that long.
REQUEST_TIMEOUT_SECONDS = 60


@dataclass(frozen=True)
class TriggerSettings:
    """Where runs go (`target`: project, region, pipeline root, labels, runner and team accounts,
    key, caching), where templates come from (the KFP repository URL, or a local folder of
    <pipeline>.yaml), and whether to answer with the request instead of sending it."""

    target: Target
    templates: str
    dry_run: bool = False

    def to_env(self) -> dict[str, str]:
        return self.target.variables() | {"TEMPLATE_REPOSITORY": self.templates, "DRY_RUN": str(self.dry_run).lower()}

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> TriggerSettings:
        """The settings in `env`, or SettingsError naming the variable that holds none."""
        for variable in ("JOB_LABELS", "TEAM_SERVICE_ACCOUNTS"):
            if not isinstance(_json_or_none(env.get(variable, "{}")), dict):
                raise SettingsError(f'{variable}: not a JSON object; expected e.g. {{"name": "value"}}')
        missing = [
            variable
            for variable in ("PROJECT_ID", "REGION", "PIPELINE_ROOT", "RUNNER_SERVICE_ACCOUNT", "TEMPLATE_REPOSITORY")
            if not env.get(variable)
        ]
        if missing:
            raise SettingsError(f"{missing[0]}: missing; expected the value the stack deploys the function with")
        return cls(
            target=Target.from_variables(env),
            templates=env["TEMPLATE_REPOSITORY"],
            dry_run=env.get("DRY_RUN", "false").lower() == "true",
        )


@dataclass(frozen=True)
class PredictSettings:
    """The registry whose champion is served (a folder, or vertex://project/region/<model>: the
    environment's `functions.predict.model`, one named model), the data
    spec requests follow, and how long a champion lookup is trusted."""

    registry_uri: str
    data_spec: DataSpec = field(default_factory=DataSpec)
    champion_check_seconds: float = 60

    def to_env(self) -> dict[str, str]:
        return {
            "REGISTRY_URI": self.registry_uri,
            "DATA_SPEC": data_spec_variable(self.data_spec),
            "CHAMPION_CHECK_SECONDS": f"{self.champion_check_seconds:g}",
            # functions-framework's gunicorn threads (its default: 4 per core). Predict is CPU-bound
            # and gets one request at a time: one thread is gunicorn's sync worker, which gunicorn
            # documents for CPU-bound apps behind a buffering proxy (Cloud Run's front end); more
            # threads only contend for the GIL (`make bench` shows both).
            "THREADS": str(REQUEST_CONCURRENCY),
        }

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> PredictSettings:
        """The settings in `env`, or SettingsError naming the variable that holds none."""
        seconds = env.get("CHAMPION_CHECK_SECONDS", "60")
        try:
            check_seconds = float(seconds)
        except ValueError:
            check_seconds = math.nan
        if not 0 <= check_seconds <= MAX_CHAMPION_CHECK_SECONDS:
            raise SettingsError(
                f"CHAMPION_CHECK_SECONDS: {seconds[:40]!r}; expected a number of seconds from 0 to "
                f"{MAX_CHAMPION_CHECK_SECONDS}"
            )
        if problem := unreadable_registry(env.get("REGISTRY_URI", "")):
            raise SettingsError(
                f"REGISTRY_URI: {problem}; expected a registry folder or vertex://<project>/<region>/<model>"
            )
        return cls(
            registry_uri=env["REGISTRY_URI"],
            data_spec=_data_spec(env.get("DATA_SPEC", "{}")),
            champion_check_seconds=check_seconds,
        )


def data_spec_variable(spec: DataSpec) -> str:
    """A data spec as DATA_SPEC spells it: JSON, keys sorted."""
    return json.dumps(spec.to_dict(), sort_keys=True)


class SettingsError(ValueError):
    """A function's environment variable holds no valid setting; the message names the variable."""


MAX_CHAMPION_CHECK_SECONDS = 3600


def _json_or_none(text: str):
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return None


def _data_spec(text: str) -> DataSpec:
    """DATA_SPEC's data spec, checked as a pipeline's `data_spec` parameter is."""
    expected = 'expected a JSON object such as {"target_column": "sales", "frequency": "1h"}'
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise SettingsError(f"DATA_SPEC: not JSON ({error}); {expected}") from None
    if not isinstance(value, dict):
        raise SettingsError(f"DATA_SPEC: {kind_of(value)}; {expected}")
    if problems := data_spec_problems(value):
        raise SettingsError("DATA_SPEC: " + "; ".join(f"{key}: {problem}" for key, problem in problems))
    return DataSpec.from_dict(value)


def deployed_settings(
    function: str, environment: Environment, team_accounts: dict[str, str] | None = None
) -> TriggerSettings | PredictSettings:
    """A function's settings as the environment's stack deploys it: the teams' accounts as the
    stack made them, or (None) as the environment's teams name them (`Target.of`)."""
    if function == "pipeline_trigger":
        return TriggerSettings(
            target=Target.of(environment, team_accounts), templates=environment.names.kfp_repository_url
        )
    if function == "predict":
        return PredictSettings(
            registry_uri=default_registry_uri(
                environment.project_id, environment.region, environment.functions.predict.model
            )
        )
    raise ValueError(f"unknown function {function!r}; expected one of {', '.join(FUNCTIONS)}")
