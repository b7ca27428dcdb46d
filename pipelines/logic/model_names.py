"""What models are called in a registry: the platform's model, a team's own model, where each
keeps its versions in the models bucket, and the default registry URI. Plain Python: the
functions ship it.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import PurePosixPath

from environments.naming import MODEL, MODEL_ID

__all__ = ["MODEL", "MODEL_ID", "artifacts_prefix", "default_registry_uri", "derived_model", "team_model"]
TEAM_MODEL_PREFIX = f"{MODEL}-team-"


def derived_model(source: object, data_spec: object) -> str:
    """The model a run registers into unless it names one: one model per dataset. The reference
    with the default spec is the platform's model (`forecaster`); any other source or spec gets
    `forecaster-<hash of source and spec>-<the source's file name>`, so a champion is only ever
    compared with challengers trained on the same data spec. Values that are not a source and a
    spec (reported by the parameter checks) fall back to the platform's model."""
    from pipelines.logic.parameters import DEFAULT_DATA_SPEC
    from pipelines.logic.spec import REFERENCE

    if not isinstance(source, str) or not isinstance(data_spec, dict):
        return MODEL
    spec = DEFAULT_DATA_SPEC | data_spec
    if source == REFERENCE and spec == DEFAULT_DATA_SPEC:
        return MODEL
    digest = hashlib.sha256(json.dumps([source, spec], sort_keys=True).encode()).hexdigest()[:8]
    stem = re.sub(r"[^a-z0-9]+", "-", PurePosixPath(source).stem.lower()).strip("-")[:40]
    return f"{MODEL}-{digest}" + (f"-{stem}" if stem else "")


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


def vertex_parts(uri: str) -> list[str] | None:
    """Project, region and model of `vertex://<project>/<region>/<model>`, or None."""
    parts = uri.removeprefix("vertex://").split("/")
    return parts if len(parts) == 3 and all(parts) else None


def unreadable_registry(uri: str) -> str | None:
    """Why `uri` names no registry `registry.open_registry` could read; None for a folder not made yet (it
    has no champion until a training run registers one)."""
    if not uri:
        return "missing"
    if uri.startswith("vertex://"):
        return None if vertex_parts(uri) else f"{uri[:80]!r} is not vertex://<project>/<region>/<model>"
    if "://" in uri:
        return f"{uri[:80]!r} is neither a folder nor vertex://"
    if os.path.exists(uri) and not os.path.isdir(uri):
        return f"{uri[:80]!r} is a file"
    return None
