"""Committed schedules, checked at synth as the trigger will check their submissions, through the
one submission path (pipelines/ops/submission.py): a schedule the trigger would refuse fails synth."""

from __future__ import annotations

from environments.loading import display_path, environment_path, team_path
from environments.schema import Environment
from pipelines.ops.submission import InvalidSubmission, prepare
from pipelines.ops.vertex import Target


def schedule_problems(environment: Environment) -> list[str]:
    """The committed schedules' submissions (the environment's and its teams'), checked as the
    trigger will check them: one line per problem, naming the file and the key path, e.g.
    `environments/dev.yaml: schedules[0].parameters.holdout_days: -5 is out of range; expected 1 to 60`."""
    target = Target.of(environment)
    owners = [(display_path(environment_path(environment.name)), None, environment.schedules)]
    owners += [(display_path(team_path(t.name)), t.name, t.schedules) for t in environment.teams]
    problems = []
    for shown_path, team, schedules in owners:
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
    return problems
