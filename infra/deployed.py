"""The names deployed functions and schedules carry: the stack creates them under these names and
`infra/operate.py` finds them by the same names. Kept apart from the constructs so that operating
what is deployed never loads the provider bundle."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

from environments.schema import Environment, Schedule
from functions.archive import build_archive, save_archive, write_archive
from functions.settings import ENTRY_POINTS
from pipelines.logic.cycle_settings import daily_parameters

SOURCE_PREFIX = "functions/"  # the archives' folder in the function-sources bucket
# Every environment deploys these functions; teams share them (a team's runs go through the trigger).
FUNCTIONS = tuple(sorted(ENTRY_POINTS))


def function_id(function: str) -> str:
    """A function's name in Cloud Functions (`pipeline_trigger` -> `pipeline-trigger`)."""
    return function.replace("_", "-")


def source_object(archive: Path) -> str:
    """The object an archive is uploaded to in the function-sources bucket."""
    return f"{SOURCE_PREFIX}{archive.name}"


def built_archives() -> dict[str, bytes]:
    """Every function's archive for the code in this checkout, in memory (ArchiveError when a
    function's files cannot be packaged)."""
    return {function: build_archive(function) for function in FUNCTIONS}


def function_archives(directory: Path, built: dict[str, bytes] | None = None) -> dict[str, Path]:
    """Every function's archive (`built`, or made now) written into `directory`."""
    return {
        function: save_archive(function, payload, directory)
        for function, payload in (built or built_archives()).items()
    }


def expected_source_object(function: str) -> str:
    """The source object synth gives `function` for the code in this checkout (the archive is made
    in a scratch folder: operating reads, it writes nothing)."""
    with tempfile.TemporaryDirectory() as scratch:
        return source_object(write_archive(function, Path(scratch)))


def schedule_job_id(environment: str, schedule: str, team: str | None = None) -> str:
    """A schedule's job name in Cloud Scheduler: `<env>-<schedule>`, a team's `<env>-<team>-<schedule>`."""
    return f"{environment}-{team}-{schedule}" if team else f"{environment}-{schedule}"


@dataclass(frozen=True)
class DeployedSchedule:
    """One schedule of an environment: `name` is how operators call it (`<schedule>`, a team's
    `<team>-<schedule>`), `job_id` its job's name in Cloud Scheduler."""

    name: str
    job_id: str
    schedule: Schedule
    key: str  # where its file declares it: `schedules[<index>]`, or the environment's `cycle`
    team: str | None = None


CYCLE_SCHEDULE = "daily-cycle"


def composer_environment_id(environment: str) -> str:
    """The environment's Composer environment (the stack creates it, make deploy-dags finds it)."""
    return f"mlops-{environment}"


def cycle_schedule(environment: Environment) -> Schedule | None:
    """The scheduler's view of the cycle, where the scheduler runs it (cycle on, Composer off)."""
    cycle = environment.cycle
    if not cycle.enabled or environment.composer.enabled:
        return None
    return Schedule(
        name=CYCLE_SCHEDULE,
        cron=cycle.cron,
        time_zone=cycle.time_zone,
        pipeline="daily",
        parameters=daily_parameters(environment),
    )


def schedules_of(environment: Environment) -> list[DeployedSchedule]:
    cycle = [
        DeployedSchedule(s.name, schedule_job_id(environment.name, s.name), s, "cycle")
        for s in [cycle_schedule(environment)]
        if s
    ]
    platform = [
        DeployedSchedule(s.name, schedule_job_id(environment.name, s.name), s, f"schedules[{index}]")
        for index, s in enumerate(environment.schedules)
    ]
    teams = [
        DeployedSchedule(
            f"{t.name}-{s.name}", schedule_job_id(environment.name, s.name, t.name), s, f"schedules[{index}]", t.name
        )
        for t in environment.teams
        for index, s in enumerate(t.schedules)
    ]
    return platform + cycle + teams
