"""The one submission path to Vertex AI: the CLI (`make run-pipeline ENV=`), the trigger function
and config validation of committed schedules all go through `prepare`.

`prepare` takes a pipeline, its parameters, the environment's facts (`vertex.Target`) and a team,
and returns the checked parameter values (defaults applied), the pipeline root, the service
account and the labels, or raises `InvalidSubmission` with one (field, message) per problem.

Parameters stay inside the environment:
- `registry_uri` is `vertex://<project>/<region>/<model>` of this environment; a team run may
  only name its own model (`vertex.team_model`), a platform run any model but a team's;
- `source` and `training_source` (empty: the run's own source) are `reference` or an object in
  the environment's data bucket, `gs://<project>-data/<path>`, under `teams/<team>/` for team runs;
- every value is in its range (parameters.py's table).
A team run executes as the team's account, with its own prefix of the pipeline root.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from environments.messages import unknown_team
from environments.naming import ResourceNames, bucket_name
from pipelines.logic.model_names import MODEL_ID, TEAM_MODEL_PREFIX, default_registry_uri, team_model
from pipelines.logic.parameters import SOURCES, check, shown, table_template
from pipelines.logic.spec import REFERENCE
from pipelines.ops.vertex import Target, vertex_defaults

# An object path: segments of letters, digits and . _ = -, never '.' or '..'.
_OBJECT_PATH = re.compile(r"(?!.*(?:^|/)\.\.?(?:/|$))[A-Za-z0-9._=-]+(?:/[A-Za-z0-9._=-]+)*")


class InvalidSubmission(Exception):
    """`problems`: one (field, message) per problem."""

    def __init__(self, problems: list[tuple[str, str]]):
        self.problems = problems
        super().__init__("\n".join(f"{field}: {message}" for field, message in problems))


@dataclass(frozen=True)
class Submission:
    pipeline: str
    parameters: dict[str, Any]
    pipeline_root: str
    service_account: str
    labels: dict[str, str]
    team: str | None = None


def prepare(
    target: Target,
    pipeline: str,
    parameters: dict[str, Any],
    *,
    team: str | None,
    trigger: str,
    template: dict | None = None,
    where: str = "parameters",
) -> Submission:
    """Check a submission against the environment; `template` is the compiled template about to
    run (without one, e.g. for committed schedules, the parameters table stands in for it)."""
    if team is not None and team not in target.team_accounts:
        raise InvalidSubmission([("team", unknown_team(shown(team), target.team_accounts, environment=True))])
    template = template if template is not None else table_template(pipeline)
    values = vertex_defaults(template, target, team, parameters) | parameters
    problems = check(template, values, where=where)
    problems += scope_problems(target, values, team, where, already_reported={field for field, _ in problems})
    if problems:
        raise InvalidSubmission(problems)
    if team:
        return Submission(
            pipeline,
            values,
            pipeline_root=f"{target.pipeline_root}/{ResourceNames.team_prefix(team).rstrip('/')}",
            service_account=target.team_accounts[team],
            labels=target.labels | {"team": team, "pipeline": pipeline, "trigger": trigger},
            team=team,
        )
    return Submission(
        pipeline,
        values,
        pipeline_root=target.pipeline_root,
        service_account=target.runner,
        labels=target.labels | {"pipeline": pipeline, "trigger": trigger},
    )


def scope_problems(
    target: Target, values: dict[str, Any], team: str | None, where: str, already_reported: set[str] = frozenset()
) -> list[tuple[str, str]]:
    """Where `registry_uri` and the sources point, for values that passed the type checks."""
    problems = []
    registry = values.get("registry_uri")
    field = f"{where}.registry_uri"
    if isinstance(registry, str) and field not in already_reported:
        problem = registry_problem(target, registry, team)
        if problem:
            problems.append((field, problem))
    for name in SOURCES:
        field = f"{where}.{name}"
        if isinstance(values.get(name), str) and values[name] and field not in already_reported:
            problem = source_problem(target, values[name], team)
            if problem:
                problems.append((field, problem))
    return problems


def registry_problem(target: Target, uri: str, team: str | None) -> str | None:
    prefix = default_registry_uri(target.project, target.region, "")
    if team:
        expected = default_registry_uri(target.project, target.region, team_model(team))
        return None if uri == expected else f"{shown(uri)} is not the team's model; expected {expected}"
    model = uri.removeprefix(prefix) if uri.startswith(prefix) else None
    if model is None or not MODEL_ID.fullmatch(model):
        return f"{shown(uri)} is outside this environment; expected {prefix}<model>"
    if model.startswith(TEAM_MODEL_PREFIX):
        return f"{shown(uri)} is a team's model; expected a platform model (not {TEAM_MODEL_PREFIX}*)"
    return None


def source_problem(target: Target, source: str, team: str | None) -> str | None:
    if source == REFERENCE:
        return None
    prefix = f"gs://{bucket_name(target.project, 'data')}/" + (ResourceNames.team_prefix(team) if team else "")
    path = source.removeprefix(prefix)
    if source.startswith(prefix) and _OBJECT_PATH.fullmatch(path):
        return None
    return f"{shown(source)} is outside this environment's data; expected {REFERENCE!r} or {prefix}<path>"
