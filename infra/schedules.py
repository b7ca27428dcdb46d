"""Committed schedules, checked at synth as the trigger will check their submissions, through the
one submission path (pipelines/ops/submission.py): a schedule the trigger would refuse fails synth."""

from __future__ import annotations

from environments.loading import display_path, environment_path, team_path
from environments.schema import Environment
from infra.deployed import DeployedSchedule, schedules_of
from pipelines.ops.submission import InvalidSubmission, prepare
from pipelines.ops.vertex import Target


def schedule_problems(environment: Environment) -> list[str]:
    """The committed schedules' submissions (the environment's and its teams'), checked as the
    trigger will check them, and their jobs' names: one line per problem, naming the file and the
    key path, e.g.
    `environments/dev.yaml: schedules[0].parameters.holdout_days: -5 is out of range; expected 1 to 60`."""
    target = Target.of(environment)
    deployed = schedules_of(environment)
    problems = []
    for schedule in deployed:
        if schedule.key == "cycle":  # the platform's own submission, not a file's
            continue
        try:
            prepare(
                target,
                schedule.schedule.pipeline,
                schedule.schedule.parameters,
                team=schedule.team,
                trigger="scheduler",
                where=f"{schedule.key}.parameters",
            )
        except InvalidSubmission as invalid:
            problems += [
                f"{_file_of(environment, schedule)}: {field}: {message}" for field, message in invalid.problems
            ]
    return problems + _shared_job_names(environment, deployed)


def _file_of(environment: Environment, schedule: DeployedSchedule) -> str:
    """The file that declares `schedule`, as shown: its team's, or the environment's."""
    return display_path(team_path(schedule.team) if schedule.team else environment_path(environment.name))


def _shared_job_names(environment: Environment, deployed: list[DeployedSchedule]) -> list[str]:
    """Schedules whose Cloud Scheduler jobs would have one name (deployed.schedules_of): two of a
    file named alike, an environment's `<team>-<name>` and that team's `<name>`, or one named as
    the daily cycle's. The stack could not hold both, nor could the project."""
    first_of: dict[str, tuple[str, str]] = {}  # job name -> (file as shown, key) of its first schedule
    problems = []
    # The cycle first: its job is named by the platform, so a schedule named like it is the one to rename.
    for schedule in sorted(deployed, key=lambda schedule: schedule.key != "cycle"):
        shown_path = _file_of(environment, schedule)
        if schedule.job_id in first_of:
            first_path, first_key = first_of[schedule.job_id]
            problems.append(
                f"{shown_path}: {schedule.key}.name: {schedule.schedule.name!r} makes the Cloud Scheduler job "
                f"{schedule.job_id!r}, which {first_key} in {first_path} makes too; expected a name of its own"
            )
        first_of.setdefault(schedule.job_id, (shown_path, schedule.key))
    return problems
