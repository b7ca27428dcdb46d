"""What models are called in a registry: the platform's model, a team's own model, where each
keeps its versions in the models bucket, and the default registry URI. Plain Python: the
functions ship it.
"""

from __future__ import annotations

import re

MODEL = "forecaster"
# Vertex AI model ids. A model's resource id is its name, so it is looked up by id, never by
# display name (anyone with aiplatform.user can create a model with any display name).
MODEL_ID = re.compile(r"[a-z][a-z0-9_-]{0,62}")
TEAM_MODEL_PREFIX = f"{MODEL}-team-"


def team_model(team: str) -> str:
    """A team's own model (its registry space): the only model its runs may register into and
    promote in, so a team can never move the platform's champion."""
    return f"{TEAM_MODEL_PREFIX}{team}"


def artifacts_prefix(model: str) -> str:
    """Where a model's versions live in the models bucket: a team's model inside its team's
    folder (the only place its account may write), the platform's under the model id."""
    from environments.naming import ResourceNames

    if model.startswith(TEAM_MODEL_PREFIX):
        return f"{ResourceNames.team_prefix(model.removeprefix(TEAM_MODEL_PREFIX))}{model}"
    return model


def default_registry_uri(project: str, region: str, model: str = MODEL) -> str:
    return f"vertex://{project}/{region}/{model}"
