"""`make onboard-team TEAM= OWNERS=`, `make offboard-team TEAM=`, `make teams`.

Onboarding writes `environments/teams/<team>.yaml`, validated by the same model synth uses, and
refuses an existing team, a bad name or a malformed owner, writing nothing. The team is enabled in
every environment; edit `environments:` (and add `schedules:` or a `budget:`) in a pull request.
Synth then gives the team its resources; offboarding removes the file, and synth removes them.
The file is written under a hidden staging name and hard-linked into place, so an interrupted
onboarding leaves either no team file or a complete one (see `staging_path`).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import yaml
from pydantic import ValidationError

from environments.credentials import refused
from environments.loading import environment_names, environment_path, load_teams, team_path, teams_dir, validate_file
from environments.messages import ConfigError, describe, unknown_team
from environments.schema import TEAM_NAME, Environment, Team


def onboard(name: str, owners: str) -> str:
    path = team_path(name) if name else None
    members = [owner.strip() for owner in owners.split(",") if owner.strip()]
    try:
        team = Team(name=name, owners=members, environments=environment_names())
    except ValidationError as error:
        raise ConfigError([_cli_message(e) for e in error.errors()]) from None
    if path.exists():
        raise ConfigError(
            [f"TEAM: {name!r} already exists ({path.relative_to(teams_dir().parent.parent)}); expected a new team name"]
        )
    load_teams()  # refuse to add to a folder that does not validate
    document = team.model_dump(exclude_none=True, exclude_defaults=False)
    text = f"# Team {name}: owners, the environments it is enabled in, schedules and budget.\n"
    text += yaml.safe_dump(document, sort_keys=False)
    teams_dir().mkdir(parents=True, exist_ok=True)
    staging = staging_path(name)
    staging.unlink(missing_ok=True)  # left by an onboarding that was killed before it finished
    try:
        with staging.open("w") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.link(staging, path)  # fails if the file appeared meanwhile: never overwrites
    except FileExistsError:
        raise ConfigError([f"TEAM: {name!r} was onboarded meanwhile; expected a new team name"]) from None
    finally:
        staging.unlink(missing_ok=True)
    return (
        f"onboarded {name}: {path.relative_to(teams_dir().parent.parent)} (enabled in {', '.join(team.environments)})"
    )


def staging_path(name: str) -> Path:
    """Where a team file is written before it is linked into place: a hidden name that no `*.yaml`
    reader sees and `.gitignore` ignores. Only a killed process leaves it; the team's next
    onboarding, or `make clean`, removes it."""
    return teams_dir() / f".{name}.yaml.partial"


def offboard(name: str) -> str:
    """Remove a team's file, whatever it holds: a team whose file no longer validates can still go
    (a name is a team name, never a path: `../dev` names no team)."""
    known_names = {path.stem for path in teams_dir().glob("*.yaml") if TEAM_NAME.fullmatch(path.stem)}
    path = team_path(name)
    if name not in known_names:
        raise ConfigError([f"TEAM: {unknown_team(repr(name), known_names)}"])
    path.unlink()
    return f"offboarded {name}: removed {path.relative_to(teams_dir().parent.parent)}"


def listing() -> str:
    teams = load_teams()
    if not teams:
        return "no teams yet; add one with `make onboard-team TEAM=<name> OWNERS=<member>[,<member>]`"
    width = max(len(t.name) for t in teams)
    # The environment files alone (load_environment would read every team file again, per environment).
    budgeted = {name for t in teams if t.budget for name in t.environments}
    billed = {name for name in budgeted if validate_file(Environment, environment_path(name)).billing_account}
    return "\n".join(
        f"{t.name:<{width}}  environments: {', '.join(t.environments)}  owners: {', '.join(t.owners)}"
        + (f"  budget: {t.budget.monthly_amount:g} {t.budget.currency}/month{_unbilled(t, billed)}" if t.budget else "")
        for t in teams
    )


def _unbilled(team: Team, billed: set[str]) -> str:
    """Where a team's budget alerts nobody: a budget needs the environment's billing_account."""
    unbilled = [name for name in team.environments if name not in billed]
    if not unbilled:
        return ""
    return f" (no alert in {', '.join(unbilled)}: no billing_account there)"


def _cli_message(error: dict) -> str:
    argument = {"name": "TEAM", "owners": "OWNERS"}.get(str(error["loc"][0]), str(error["loc"][0]))
    return f"{argument}{''.join(f'[{p}]' for p in error['loc'][1:])}: {describe(Team, error).split(': ', 1)[1]}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    add = commands.add_parser("onboard")
    add.add_argument("--team", default="")
    add.add_argument("--owners", default="")
    remove = commands.add_parser("offboard")
    remove.add_argument("--team", default="")
    commands.add_parser("list")
    args = parser.parse_args(argv)
    try:
        if args.command == "onboard":
            print(onboard(args.team, args.owners))
        elif args.command == "offboard":
            print(offboard(args.team))
        else:
            print(listing())
    except ConfigError as error:
        return refused(error)
    return 0


if __name__ == "__main__":
    sys.exit(main())
