"""Committed schedules, checked at synth as the trigger will check their submissions, through the
one submission path (pipelines/ops/submission.py): a schedule the trigger would refuse fails synth."""

from __future__ import annotations

from environments.loading import display_path, environment_path, team_path
from environments.schema import Environment, Schedule
from infra.deployed import schedules_of
from pipelines.ops.submission import InvalidSubmission, prepare
from pipelines.ops.vertex import Target


def schedule_problems(environment: Environment) -> list[str]:
    """The committed schedules' submissions (the environment's and its teams'), checked as the
    trigger will check them, and their jobs' names: one line per problem, naming the file and the
    key path, e.g.
    `environments/dev.yaml: schedules[0].parameters.holdout_days: -5 is out of range; expected 1 to 60`."""
    target = Target.of(environment)
    problems = []
    for shown_path, team, schedules in _owners(environment):
        for index, schedule in enumerate(schedules):
            try:
                prepare(
                    target,
                    schedule.pipeline,
                    schedule.parameters,
                    team=team,
                    trigger="scheduler",
                    where=f"schedules[{index}].parameters",
                )
            except InvalidSubmission as invalid:
                problems += [f"{shown_path}: {field}: {message}" for field, message in invalid.problems]
    return problems + _shared_job_names(environment)


def _owners(environment: Environment) -> list[tuple[str, str | None, list[Schedule]]]:
    """(file as shown, team or None, schedules) of the environment and of each of its teams."""
    owners = [(display_path(environment_path(environment.name)), None, environment.schedules)]
    return owners + [(display_path(team_path(t.name)), t.name, t.schedules) for t in environment.teams]


def _shared_job_names(environment: Environment) -> list[str]:
    """Schedules whose Cloud Scheduler jobs would have one name (deployed.schedules_of): two of a
    file named alike, an environment's `<team>-<name>` and that team's `<name>`, or one named as
    the daily cycle's. The stack could not hold both, nor could the project."""
    first_of: dict[str, tuple[str, str]] = {}  # job name -> (file as shown, key) of its first schedule
    problems = []
    # The cycle first: its job is named by the platform, so a schedule named like it is the one to rename.
    for deployed in sorted(schedules_of(environment), key=lambda deployed: deployed.key != "cycle"):
        shown_path = display_path(team_path(deployed.team) if deployed.team else environment_path(environment.name))
        if deployed.job_id in first_of:
            first_path, first_key = first_of[deployed.job_id]
            problems.append(
                f"{shown_path}: {deployed.key}.name: {deployed.schedule.name!r} makes the Cloud Scheduler job "
                f"{deployed.job_id!r}, which {first_key} in {first_path} makes too; expected a name of its own"
            )
        first_of.setdefault(deployed.job_id, (shown_path, deployed.key))
    return problems
