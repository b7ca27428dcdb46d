"""Schedules are checked at synth like the trigger checks their submissions."""

from __future__ import annotations

from environments.loading import load_environment
from infra.schedules import schedule_problems
from tests.support.environments import minimal


def test_schedules_are_checked_like_the_trigger_checks_them(environments_dir):
    (environments_dir / "dev.yaml").write_text(
        minimal("dev")
        + "schedules:\n"
        + "  - {name: nightly, cron: '0 3 * * *', pipeline: training, parameters: {holdout_days: -5}}\n"
        + "  - {name: leak, cron: '0 4 * * *', pipeline: prediction, parameters: {source: 'gs://x/y.csv'}}\n"
        + "  - {name: fine, cron: '0 5 * * *', pipeline: monitoring}\n"
    )
    (environments_dir / "prod.yaml").write_text(
        minimal("prod") + "schedules:\n  - {name: fine, cron: '0 5 * * *', pipeline: monitoring}\n"
    )
    teams = environments_dir / "teams"
    teams.mkdir()
    (teams / "forecasting.yaml").write_text(
        "name: forecasting\nowners: [group:f@example.com]\nenvironments: [dev]\n"
        "schedules:\n  - {name: team, cron: '0 1 * * *', pipeline: training, "
        "parameters: {registry_uri: 'vertex://fixture-dev/europe-west4/forecaster'}}\n"
    )
    assert schedule_problems(load_environment("dev")) == [
        "environments/dev.yaml: schedules[0].parameters.holdout_days: -5 is out of range; expected 2 to 60",
        'environments/dev.yaml: schedules[1].parameters.source: "gs://x/y.csv" is outside this environment\'s '
        "data; expected 'reference' or gs://fixture-dev-data/<path>",
        "environments/teams/forecasting.yaml: schedules[0].parameters.registry_uri: "
        '"vertex://fixture-dev/europe-west4/forecaster" is not the team\'s model; expected '
        "vertex://fixture-dev/europe-west4/forecaster-team-forecasting",
    ]
    assert schedule_problems(load_environment("prod")) == []


def test_schedules_whose_jobs_would_share_a_name_fail_synth_naming_both(environments_dir):
    """A job's name is `<env>-<schedule>`, a team's `<env>-<team>-<schedule>`, the cycle's
    `<env>-daily-cycle`: one name twice would fail the stack's construction, or the apply."""
    fine = "cron: '0 3 * * *', pipeline: monitoring"
    (environments_dir / "dev.yaml").write_text(
        minimal("dev", extra="cycle: {enabled: true}\n")
        + "schedules:\n"
        + "".join(f"  - {{name: {name}, {fine}}}\n" for name in ("nightly", "nightly", "daily-cycle", "ml-drift"))
    )
    teams = environments_dir / "teams"
    teams.mkdir()
    (teams / "ml.yaml").write_text(
        f"name: ml\nowners: [group:ml@example.com]\nenvironments: [dev]\nschedules:\n  - {{name: drift, {fine}}}\n"
    )
    assert schedule_problems(load_environment("dev")) == [
        "environments/dev.yaml: schedules[1].name: 'nightly' makes the Cloud Scheduler job 'dev-nightly', which "
        "schedules[0] in environments/dev.yaml makes too; expected a name of its own",
        "environments/dev.yaml: schedules[2].name: 'daily-cycle' makes the Cloud Scheduler job 'dev-daily-cycle', "
        "which cycle in environments/dev.yaml makes too; expected a name of its own",
        "environments/teams/ml.yaml: schedules[0].name: 'drift' makes the Cloud Scheduler job 'dev-ml-drift', which "
        "schedules[3] in environments/dev.yaml makes too; expected a name of its own",
    ]
