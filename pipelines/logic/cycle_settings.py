"""The daily cycle's settings as the `daily` pipeline's parameters: what an environment's `cycle:`
(environments/schema.py) becomes in its scheduler job and its DAG's settings. Plain Python (no
pandas): the stacks import it at synth.
"""

from __future__ import annotations

from pipelines.logic.model_names import default_registry_uri
from pipelines.logic.parameters import PIPELINE_PARAMETERS
from pipelines.logic.spec import REFERENCE

# What the environment's `cycle:` tunes, under the same names in CycleConfig and the parameters:
# the `daily` pipeline's parameters other than what a run is about (its model, day and source).
TUNING = tuple(
    name for name in PIPELINE_PARAMETERS["daily"] if name not in ("registry_uri", "day", "source", "source_url")
)


def daily_parameters(environment) -> dict:
    """The `daily` pipeline's parameters for an environment's `cycle:` settings: what its
    scheduler job sends and its DAG's settings hold."""
    cycle = environment.cycle
    source = cycle.source
    parameters = {
        "registry_uri": default_registry_uri(environment.project_id, environment.region),
        "source": REFERENCE
        if source.kind != "drop"
        else f"gs://{environment.names.bucket('data')}/{source.prefix.rstrip('/')}",
        "degradation_ratio": cycle.degradation_ratio,
        "degradation_days": cycle.degradation_days,
        "drift_threshold": cycle.drift_threshold,
        "drift_window_days": cycle.drift_window_days,
    }
    return parameters | ({"source_url": source.url} if source.kind == "http" else {})
