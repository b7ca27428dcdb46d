"""Fixture environments for the tests, one per switch, so that editing environments/dev.yaml or
prod.yaml never breaks a test: `nothing` has every switch off, each of `cmek`, `composer`,
`budgets`, `teams` and `delivery` turns one on, and `everything` turns them all on (with a
read-only planner, approvals and a platform schedule). Each project id is `fixture-<name>`."""

from __future__ import annotations

from pathlib import Path

from environments.loading import REPO_ROOT

# The repository's own environments, as a platform team has them (adding one must not break a test).
COMMITTED = sorted(path.stem for path in (REPO_ROOT / "environments").glob("*.yaml"))
# A name no environment file has.
NOT_AN_ENVIRONMENT = "no-such-env"


def minimal(name: str, region: str = "europe-west4", extra: str = "") -> str:
    """An environment file with only what is required, plus `extra` lines."""
    return (
        f"project_id: fixture-{name}\nregion: {region}\nstate_bucket: fixture-{name}-tfstate\n"
        "functions:\n  predict: {invokers: [user:ana@example.com]}\n" + extra
    )


ENVIRONMENTS = {
    "nothing": minimal("nothing", extra="storage: {pipeline_root_retention_days: 14}\n"),
    "cmek": minimal("cmek", extra="encryption: {cmek: true, key_rotation_days: 30}\n"),
    "composer": minimal("composer", extra="composer: {enabled: true, size: medium}\n"),
    "budgets": minimal(
        "budgets", extra="billing_account: 0A0A0A-1B1B1B-2C2C2C\nnotifications: {emails: [budgets@example.com]}\n"
    ),
    "teams": minimal("teams", extra="team_owners_run_pipelines: true\n"),
    "delivery": minimal(
        "delivery",
        extra="delivery:\n"
        "  repository: projects/fixture-delivery/locations/europe-west4/connections/c/repositories/r\n"
        "  deploy_on: branch\n  pattern: ^main$\n  pull_request_checks: true\n",
    ),
    "everything": """
project_id: fixture-everything
region: us-central1
state_bucket: fixture-everything-tfstate
encryption: {cmek: true}
composer: {enabled: true}
billing_account: 0A0A0A-1B1B1B-2C2C2C
notifications: {emails: [alerts@example.com]}
team_owners_run_pipelines: true
functions:
  predict: {invokers: [group:callers@example.com]}
delivery:
  repository: projects/fixture-everything/locations/us-central1/connections/c/repositories/r
  deploy_on: tag
  pattern: ^v.*$
  approval_required: true
  pull_request_checks: true
  plan_service_account: planner@fixture-everything.iam.gserviceaccount.com
schedules:
  - {name: nightly, cron: "0 1 * * *", pipeline: training}
""",
}
# The team, enabled where teams are switched on.
TEAM = """
name: forecasting
owners: [group:forecasting@example.com]
environments: [teams, everything]
schedules:
  - {name: weekly, cron: "0 4 * * 1", pipeline: training}
budget: {monthly_amount: 150}
"""


def write_environments(directory: Path, names: list[str] | None = None, team: bool = True) -> Path:
    """Write the fixture environments (all when `names` is None) and the team into `directory`."""
    (directory / "teams").mkdir(parents=True)
    for name in names or ENVIRONMENTS:
        (directory / f"{name}.yaml").write_text(ENVIRONMENTS[name])
    if team:
        (directory / "teams" / "forecasting.yaml").write_text(TEAM)
    return directory


# Environments named and set up like the committed ones, for the tests of the operating tools
# (status, verify-deploy, bootstrap, release plans), whose recorded Google responses name these
# projects: the tests' own copies, so editing environments/dev.yaml or prod.yaml never breaks them.
OPERATED = {
    "dev": """
project_id: acme-mlops-dev
region: europe-west1
state_bucket: acme-mlops-dev-tfstate
labels: {cost-center: ml-platform}
storage: {pipeline_root_retention_days: 14}
notifications: {emails: [ml-platform@example.com]}
team_owners_run_pipelines: true
functions:
  pipeline_trigger: {max_instances: 2}
  predict: {max_instances: 3, invokers: [group:ml-platform@example.com]}
schedules:
  - {name: daily-training, cron: "0 3 * * *", time_zone: Europe/London, pipeline: training}
  - {name: daily-monitoring, cron: "30 6 * * *", time_zone: Europe/London, pipeline: monitoring,
     parameters: {drift_threshold: 0.5}}
""",
    "prod": """
project_id: acme-mlops-prod
region: europe-west1
state_bucket: acme-mlops-prod-tfstate
labels: {cost-center: ml-platform}
encryption: {cmek: true}
composer: {enabled: true}
notifications: {emails: [ml-platform@example.com, ml-oncall@example.com]}
functions:
  predict: {max_instances: 10, invokers: [group:forecast-consumers@example.com]}
schedules:
  - {name: daily-training, cron: "0 2 * * *", time_zone: Europe/London, pipeline: training}
  - {name: daily-monitoring, cron: "0 6 * * *", time_zone: Europe/London, pipeline: monitoring,
     parameters: {drift_threshold: 0.5}}
""",
}


def write_operated(directory: Path) -> Path:
    """Write OPERATED's `dev` and `prod` into `directory` (no teams)."""
    for name, text in OPERATED.items():
        (directory / f"{name}.yaml").write_text(text)
    return directory
