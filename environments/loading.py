"""Finding and reading the environment and team files, strictly: `load_environment(name)` is the
one way anything in the platform reads an environment. Every problem of every file is reported at
once as ConfigError, one line each (messages.py). Only files named like environments are
environments: any other file in `environments/` is reported, never loaded.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path
from typing import TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from environments.messages import ConfigError, describe, value_and_kind
from environments.naming import MODEL
from environments.schema import Environment, Team

M = TypeVar("M", bound=BaseModel)

REPO_ROOT = Path(__file__).resolve().parent.parent
# Everything the tools make locally (compiled templates, the local registry, runs, archives): `make clean`.
BUILD_DIR = REPO_ROOT / "build"
COMPILED_DIR = BUILD_DIR / "pipelines"  # `make compile-pipelines`
LOCAL_REGISTRY = BUILD_DIR / "registry"  # local runs' model registry: the platform's model
LOCAL_MODELS = LOCAL_REGISTRY / "models"  # every other model's local registry, by name
LOCAL_PIPELINE_ROOT = BUILD_DIR / "local-runs"  # kfp.local's artifacts


def local_registry_of(model: str) -> Path:
    """A model's local registry: build/registry for the platform's model (`MODEL`),
    build/registry/models/<model> for any other."""
    return LOCAL_REGISTRY if model == MODEL else LOCAL_MODELS / model


def local_registries() -> list[Path]:
    """Every local model's registry folder: the platform's, then the others by name."""
    return [LOCAL_REGISTRY, *sorted(LOCAL_MODELS.glob("*"))]


def local_model_of(registry: str | Path) -> str:
    """The model a local registry folder holds (`local_registry_of` read backwards); a folder
    elsewhere is named after itself and its path (`<name>-<hash>`), so two folders of one name
    stay two models."""
    path = Path(registry).resolve()
    if path == LOCAL_REGISTRY.resolve():
        return MODEL
    if path.parent == LOCAL_MODELS.resolve() and path.name != MODEL:  # build/registry is MODEL's
        return path.name
    return f"{path.name}-{hashlib.sha256(str(path).encode()).hexdigest()[:8]}"


# Tests and forks may point the platform at another folder of environment files.
ENVIRONMENTS_DIR_VARIABLE = "PLATFORM_ENVIRONMENTS_DIR"


def environments_dir() -> Path:
    return Path(os.environ.get(ENVIRONMENTS_DIR_VARIABLE) or REPO_ROOT / "environments").resolve()


def environment_path(name: str) -> Path:
    return environments_dir() / f"{name}.yaml"


# An environment file is `environments/<name>.yaml` with a name like this; any other YAML file there
# is refused rather than read, so a stray file never becomes an environment.
ENVIRONMENT_NAME = re.compile(r"[a-z][a-z0-9-]{0,19}")
YAML_SUFFIXES = (".yaml", ".yml")


def environment_names() -> list[str]:
    """The environments: `environments/<name>.yaml` files; ConfigError for any other YAML file there."""
    names, problems = [], []
    for path in sorted(environments_dir().glob("*")):
        if path.suffix not in YAML_SUFFIXES or not path.is_file():
            continue  # the config model's modules, READMEs and teams/ are not environments
        if path.suffix == ".yaml" and ENVIRONMENT_NAME.fullmatch(path.stem):
            names.append(path.stem)
        else:
            problems.append(
                f"{display_path(path)}: not an environment file; expected environments/<name>.yaml with a name of "
                "up to 20 lowercase letters, digits and hyphens, starting with a letter (keep other files out of "
                "environments/)"
            )
    if problems:
        raise ConfigError(problems)
    return names


def load_environment(name: str, teams: list[Team] | None = None) -> Environment:
    """Read and validate `environments/<name>.yaml`; raise ConfigError naming every problem. `teams`:
    every team, when the caller has read them already (`load_teams` by default)."""
    if name not in environment_names():
        raise ConfigError([f"ENV: {name!r} is not an environment; expected one of {', '.join(environment_names())}"])
    path = environment_path(name)
    environment = validate_file(Environment, path)
    environment._name = name
    environment._teams = [team for team in (load_teams() if teams is None else teams) if name in team.environments]
    if environment.billing_account:
        _check_one_budget_currency(environment)
    return environment


def _check_one_budget_currency(environment: Environment) -> None:
    """The team budgets of an environment are on its billing account, and Cloud Billing takes a
    budget's amount only in that account's currency (cloud.google.com/billing/docs/reference/
    budget/rest/v1/billingAccounts.budgets, Money.currencyCode): budgets in two currencies would
    fail at apply, one of them whichever the account's is."""
    budgeted = [team for team in environment.teams if team.budget]
    first = next(iter(budgeted), None)
    problems = [
        f"{display_path(team_path(team.name))}: budget.currency: {team.budget.currency!r} differs from "
        f"{first.budget.currency!r} (team {first.name}), on {environment.name}'s billing account "
        f"{environment.billing_account}; expected every team budget in the billing account's currency"
        for team in budgeted
        if team.budget.currency != first.budget.currency
    ]
    if problems:
        raise ConfigError(problems)


def teams_dir() -> Path:
    return environments_dir() / "teams"


def team_path(name: str) -> Path:
    return teams_dir() / f"{name}.yaml"


def load_teams() -> list[Team]:
    """Every team file, validated; a file's name must be its team's name, its environments real.
    Any other YAML file there is refused, as in environments/: a team is never silently left out."""
    known = environment_names()
    teams, problems = [], []
    for path in sorted(teams_dir().glob("*")):
        if path.suffix not in YAML_SUFFIXES or not path.is_file():
            continue  # the folder's README
        if path.suffix != ".yaml":
            problems.append(f"{display_path(path)}: not a team file; expected environments/teams/<team>.yaml")
            continue
        try:
            team = validate_file(Team, path)
        except ConfigError as error:
            problems.extend(error.problems)
            continue
        shown = display_path(path)
        if team.name != path.stem:
            problems.append(f"{shown}: name: {team.name!r} does not match the file name; expected {path.stem!r}")
        for index, environment in enumerate(team.environments):
            if environment not in known:
                problems.append(
                    f"{shown}: environments[{index}]: {environment!r} is not an environment; expected "
                    f"one of {', '.join(known)}"
                )
        teams.append(team)
    if problems:
        raise ConfigError(problems)
    return teams


def load_environments(names: list[str] | None = None) -> list[Environment]:
    """Load the named environments (all when None), reporting the problems of every file at once."""
    environments, problems, team_problems, teams = [], [], [], []
    try:
        teams = load_teams()  # once for every environment: a team file's problem is told once
    except ConfigError as error:
        team_problems = error.problems
    for name in names or environment_names():
        try:
            environments.append(load_environment(name, teams))
        except ConfigError as error:
            problems.extend(error.problems)
    if problems or team_problems:
        raise ConfigError(problems + team_problems)
    if names is None:
        _check_distinct_projects(environments)
    return environments


def _check_distinct_projects(environments: list[Environment]) -> None:
    """Two environments in one project, or with one state bucket, would apply over each other's
    resources (a copy of dev.yaml saved as staging.yaml and not yet edited)."""
    problems = []
    for key in ("project_id", "state_bucket"):
        first: dict[str, str] = {}
        for environment in environments:
            value = getattr(environment, key)
            if (other := first.setdefault(value, environment.name)) != environment.name:
                problems.append(
                    f"{display_path(environment_path(environment.name))}: {key}: {value!r} is {other}'s too; "
                    "expected an environment's own (each environment is a project of its own)"
                )
    if problems:
        raise ConfigError(problems)


def validate_file(model: type[M], path: Path) -> M:
    """Parse a YAML file strictly and validate it against `model`."""
    shown = display_path(path)
    return _validate(model, _read_yaml(path, shown), shown)


def _validate(model: type[M], data: dict, shown: str) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as error:
        raise ConfigError([f"{shown}: {describe(model, e)}" for e in error.errors()]) from None


def display_path(path: Path) -> str:
    """A config file's path as users know it: relative to the folder holding `environments/`."""
    try:
        return str(path.resolve().relative_to(environments_dir().parent))
    except ValueError:
        return str(path)


class _UniqueKeys:
    """Refuses duplicate keys instead of silently keeping the last one (a SafeLoader mixin)."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                mark = key_node.start_mark
                raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


class _CheckedLoader(_UniqueKeys, yaml.SafeLoader):
    """PyYAML's own parser: the messages a refused file gets."""


class _FastLoader(_UniqueKeys, getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
    """libyaml's parser, where PyYAML has it: a valid file read ten times faster, into the same
    values (the same constructor builds them); a file it refuses is read again by _CheckedLoader."""


def _read_yaml(path: Path, shown: str) -> dict:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([f"{shown}: no such file"]) from None
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError([f"{shown}: cannot be read as UTF-8 text ({error})"]) from None
    try:
        data = yaml.load(text, Loader=_FastLoader)  # noqa: S506 - SafeLoader subclasses
    except yaml.YAMLError:
        data = _read_checked(text, shown)
    if data is None:
        raise ConfigError([f"{shown}: the file is empty; expected a mapping of settings"])
    if not isinstance(data, dict):
        raise ConfigError([f"{shown}: top level: {value_and_kind(data)}; expected a mapping of settings"])
    return data


def _read_checked(text: str, shown: str):
    """The file as PyYAML's own parser reads it, or ConfigError naming the line, column and problem."""
    try:
        return yaml.load(text, Loader=_CheckedLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(error, "problem", None) or str(error)
        raise ConfigError([f"{shown}: not valid YAML: {where}{problem}"]) from None
