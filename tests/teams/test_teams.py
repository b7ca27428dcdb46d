"""Teams: onboarding writes a validated file or nothing; synth gives an onboarded team exactly its
resources, and offboarding takes exactly them away (compared on the synthesized stacks)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys

import pytest
import yaml

from environments.loading import REPO_ROOT, load_environment, load_teams
from environments.messages import ConfigError
from environments.teams import listing, offboard, onboard
from infra.diff import diff_stacks, read_stacks
from tests.support.environments import minimal
from tests.support.stacks import resources

OWNERS = "group:forecasting@example.com,user:ana@example.com"


@pytest.fixture
def workspace(environments_dir):
    """Two environments with a billing account (so budgets apply), a schedule and no teams: in `dev` team
    owners run their pipelines, in `prod` they only read."""
    # With a schedule of their own: a team's schedules then add no scheduler alert.
    billing = (
        'billing_account: 012345-6789AB-CDEF01\nschedules: [{name: daily, cron: "0 3 * * *", pipeline: training}]\n'
    )
    (environments_dir / "dev.yaml").write_text(minimal("dev", extra=billing + "team_owners_run_pipelines: true\n"))
    (environments_dir / "prod.yaml").write_text(minimal("prod", extra=billing))
    (environments_dir / "teams").mkdir()
    return environments_dir


def test_onboarding_writes_a_valid_file_enabled_everywhere(workspace):
    assert onboard("forecasting", OWNERS) == (
        "onboarded forecasting: environments/teams/forecasting.yaml (enabled in dev, prod)"
    )
    (team,) = load_teams()
    assert team.owners == ["group:forecasting@example.com", "user:ana@example.com"]
    assert team.environments == ["dev", "prod"] and team.schedules == [] and team.budget is None
    assert [t.name for t in load_environment("dev").teams] == ["forecasting"]
    assert listing().startswith("forecasting  environments: dev, prod  owners: group:forecasting@example.com")


@pytest.mark.parametrize(
    ("team", "owners", "message"),
    [
        ("Forecasting", OWNERS, "TEAM: 'Forecasting' is not valid; expected lowercase letters, digits and hyphens"),
        ("9lives", OWNERS, "TEAM: '9lives' is not valid"),
        ("ends-with-", OWNERS, "TEAM: 'ends-with-' is not valid"),
        ("a" * 26, OWNERS, f"TEAM: '{'a' * 26}' is not valid"),
        ("", OWNERS, "TEAM: '' is not valid"),
        ("forecasting", "", "OWNERS: none given; expected at least 1"),
        ("forecasting", "ana@example.com", "OWNERS[0]: 'ana@example.com' is not valid; expected an IAM member"),
        ("forecasting", "allUsers", "OWNERS[0]: 'allUsers' is not valid"),
        ("forecasting", "user:ana@example.com,group: x", "OWNERS[1]: 'group: x' is not valid"),
        ("forecasting", "user:$(id)@example.com", "OWNERS[0]: 'user:$(id)@example.com' is not valid"),
        ("forecasting", "domain:example", "OWNERS[0]: 'domain:example' is not valid"),
        (
            "forecasting",
            "user:ana@example.com,group:f@example.com,user:Ana@Example.com",
            "OWNERS: ['user:ana@example.com', 'group:f@example.com', 'user:Ana@Example.com'] is not valid; [2] "
            "'user:Ana@Example.com' is [0] 'user:ana@example.com' again (addresses are read without regard to case); "
            "expected each member once",
        ),
    ],
)
def test_bad_onboarding_is_refused_and_writes_nothing(workspace, team, owners, message):
    with pytest.raises(ConfigError) as raised:
        onboard(team, owners)
    assert str(raised.value).startswith(message)
    assert sorted(p.name for p in (workspace / "teams").iterdir()) == []


def test_an_existing_team_is_refused_and_kept(workspace):
    onboard("forecasting", OWNERS)
    before = (workspace / "teams" / "forecasting.yaml").read_text()
    with pytest.raises(ConfigError, match="TEAM: 'forecasting' already exists"):
        onboard("forecasting", "group:someone-else@example.com")
    assert (workspace / "teams" / "forecasting.yaml").read_text() == before


def test_offboarding_an_unknown_team_names_the_known_ones(workspace):
    onboard("forecasting", OWNERS)
    with pytest.raises(ConfigError, match="TEAM: 'pricing' is not a team; expected one of forecasting"):
        offboard("pricing")


def test_with_no_team_onboarded_offboarding_says_so(workspace):
    with pytest.raises(ConfigError) as raised:
        offboard("pricing")
    assert raised.value.problems == [
        "TEAM: 'pricing' is not a team; no team is onboarded, so expected none (make onboard-team adds one)"
    ]


def test_a_team_file_not_named_yaml_is_refused_not_skipped(workspace):
    """environments/ refuses stray YAML files; so does teams/: a `.yml` team would be silently absent."""
    onboard("forecasting", OWNERS)
    (workspace / "teams" / "forecasting.yaml").rename(workspace / "teams" / "forecasting.yml")
    with pytest.raises(ConfigError) as raised:
        load_teams()
    assert raised.value.problems == [
        "environments/teams/forecasting.yml: not a team file; expected environments/teams/<team>.yaml"
    ]


def test_a_team_whose_file_no_longer_validates_can_still_be_offboarded(workspace):
    onboard("forecasting", OWNERS)
    path = workspace / "teams" / "forecasting.yaml"
    path.write_text(path.read_text() + "budgte: 5\n")
    offboard("forecasting")
    assert not path.exists()


def test_offboarding_takes_a_team_name_never_a_path(workspace):
    onboard("forecasting", OWNERS)
    with pytest.raises(ConfigError, match=r"TEAM: '\.\./dev' is not a team; expected one of forecasting"):
        offboard("../dev")
    assert (workspace / "dev.yaml").exists()


def test_make_targets_exit_non_zero_with_the_message(workspace):
    result = subprocess.run(
        ["make", "--no-print-directory", "onboard-team", "TEAM=Bad", f"OWNERS={OWNERS}"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode != 0 and "TEAM: 'Bad' is not valid" in result.stderr


def synth(tmp_path, name: str) -> dict[str, dict]:
    from infra.synth import synthesize

    outdir = tmp_path / name
    synthesize(None, outdir=outdir)
    return read_stacks(outdir)


def test_onboard_synth_offboard_adds_and_removes_exactly_the_teams_resources(workspace, tmp_path):
    without = synth(tmp_path, "without")
    onboard("forecasting", OWNERS)
    path = workspace / "teams" / "forecasting.yaml"
    team = yaml.safe_load(path.read_text())
    team["schedules"] = [{"name": "nightly", "cron": "0 1 * * *", "pipeline": "training"}]
    team["budget"] = {"monthly_amount": 250.5, "currency": "EUR"}
    path.write_text(yaml.safe_dump(team))
    with_team = synth(tmp_path, "with")

    for env in ("dev", "prod"):
        change = diff_stacks(without[env], with_team[env])
        owners = ("team-forecasting", "group-forecasting-example-com", "user-ana-example-com")
        team_owned = [a for a in change.added if any(owner in a for owner in owners)]
        enablement = sorted(set(change.added) - set(team_owned))
        # The deploy build applies this: the team role and the deployer's right to grant it are there
        # already (it can neither create a role nor change its own condition), and so is what the
        # budget needs (the billing account gives the platform its own budget, with the API, the
        # project number and the email channels the alerts use).
        assert enablement == []
        kinds = sorted({a.split(".")[0] for a in team_owned})
        assert kinds == [
            "google_artifact_registry_repository_iam_member",
            "google_billing_budget",
            "google_cloud_scheduler_job",
            "google_project_iam_member",
            "google_service_account",
            "google_service_account_iam_member",
            "google_storage_managed_folder",
            "google_storage_managed_folder_iam_member",
        ]
        assert change.removed == []
        assert sorted(change.changed) == ["google_cloudfunctions2_function.function-pipeline-trigger/function"]
        ((key, _, now),) = change.changed["google_cloudfunctions2_function.function-pipeline-trigger/function"]
        assert key == "service_config.environment_variables.TEAM_SERVICE_ACCOUNTS"
        # The trigger reads the team's email from the team's identity, not from the naming convention.
        (account,) = re.fullmatch(r'\{"forecasting": "\$\{google_service_account\.([\w-]+)\.email\}"\}', now).groups()
        assert with_team[env]["resource"]["google_service_account"][account]["account_id"] == "team-forecasting"

    offboard("forecasting")
    assert not path.exists()
    after = synth(tmp_path, "after")
    assert all(diff_stacks(without[env], after[env]).empty for env in ("dev", "prod"))


def test_owners_may_run_pipelines_in_dev_but_only_read_in_prod(workspace, tmp_path):
    onboard("forecasting", OWNERS)
    stacks = synth(tmp_path, "team")

    def owner_roles(env: str) -> set[tuple[str, str]]:
        found = set()
        for resource_type in (
            "google_project_iam_member",
            "google_service_account_iam_member",
            "google_storage_managed_folder_iam_member",
        ):
            for grant in resources(stacks[env], resource_type).values():
                if grant["member"] == "group:forecasting@example.com":
                    found.add((resource_type, grant["role"]))
        return found

    assert owner_roles("dev") == {
        ("google_project_iam_member", "projects/fixture-dev/roles/platformTeamRunner"),
        ("google_service_account_iam_member", "roles/iam.serviceAccountUser"),
        ("google_storage_managed_folder_iam_member", "roles/storage.objectUser"),
    }
    assert owner_roles("prod") == {("google_storage_managed_folder_iam_member", "roles/storage.objectViewer")}


def test_owners_whose_names_read_alike_each_get_their_own_grants(workspace, tmp_path):
    """`anna.b` and `anna-b` make the same construct name from their addresses: both are granted."""
    onboard("forecasting", "user:anna.b@example.com,user:anna-b@example.com")
    stacks = synth(tmp_path, "alike")
    granted = sorted(
        (grant["bucket"], grant["member"])
        for grant in resources(stacks["prod"], "google_storage_managed_folder_iam_member").values()
        if grant["member"].startswith("user:")
    )
    assert len(set(granted)) == 6 and len({bucket for bucket, _ in granted}) == 3  # on the team's folder of 3 buckets
    assert sorted({member for _, member in granted}) == ["user:anna-b@example.com", "user:anna.b@example.com"]


def test_an_onboarding_interrupted_before_the_link_leaves_no_file(workspace, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("environments.teams.os.link", interrupted)
    with pytest.raises(KeyboardInterrupt):
        onboard("forecasting", OWNERS)
    assert sorted(p.name for p in (workspace / "teams").iterdir()) == []


def test_a_killed_onboarding_leaves_an_ignored_file_that_the_next_onboarding_removes(workspace):
    script = (
        "import os, signal\n"
        "import environments.teams as teams\n"
        "teams.os.link = lambda *a, **k: os.kill(os.getpid(), signal.SIGKILL)\n"
        f"teams.onboard('forecasting', {OWNERS!r})\n"
    )
    killed = subprocess.run(
        [sys.executable, "-c", script],
        cwd=REPO_ROOT,
        env={**os.environ, "PLATFORM_ENVIRONMENTS_DIR": str(workspace)},
        check=False,
    )
    assert killed.returncode == -signal.SIGKILL
    assert sorted(p.name for p in (workspace / "teams").iterdir()) == [".forecasting.yaml.partial"]
    assert load_teams() == [], "a staging file is never read as a team"
    ignored = subprocess.run(
        ["git", "check-ignore", "--no-index", "-q", "environments/teams/.forecasting.yaml.partial"],
        cwd=REPO_ROOT,
        check=False,
    )
    assert ignored.returncode == 0, ".gitignore must ignore team staging files"

    onboard("forecasting", OWNERS)
    assert sorted(p.name for p in (workspace / "teams").iterdir()) == ["forecasting.yaml"]


def test_the_team_file_example_in_the_teams_readme_is_valid_for_the_committed_environments(environments_dir):
    """The example in environments/teams/README.md, as a team of the committed dev and prod: it
    loads, and its schedule passes synth's check (its gs:// source is dev's own data bucket)."""
    import shutil

    from infra.schedules import schedule_problems

    readme = (REPO_ROOT / "environments" / "teams" / "README.md").read_text()
    example = re.search(r"```yaml\n(.*?)```", readme, re.DOTALL)[1]
    for name in ("dev", "prod"):
        shutil.copy(REPO_ROOT / "environments" / f"{name}.yaml", environments_dir)
    (environments_dir / "teams").mkdir()
    (environments_dir / "teams" / "forecasting.yaml").write_text(example)
    dev = load_environment("dev")
    assert [team.name for team in dev.teams] == ["forecasting"] and dev.teams[0].budget.monthly_amount == 500
    assert schedule_problems(dev) == []
    assert load_environment("prod").teams == []


def test_owners_may_be_any_member_form_google_spells(workspace):
    """Accounts, groups, service accounts, GKE workload identities and domains."""
    owners = (
        "user:o'brien+ml@example.com,group:ml-team@example.co.uk,"
        "serviceAccount:runner@acme-ml.iam.gserviceaccount.com,"
        "serviceAccount:acme-ml.svc.id.goog[serving/predictor],domain:example.com"
    )
    onboard("forecasting", owners)
    assert load_teams()[0].owners == owners.split(",")


def test_the_listing_says_where_a_budget_alerts_nobody(environments_dir):
    """A budget needs the environment's billing account: without one, `make teams` says so."""
    (environments_dir / "dev.yaml").write_text(minimal("dev"))
    (environments_dir / "prod.yaml").write_text(minimal("prod", extra="billing_account: 012345-6789AB-CDEF01\n"))
    (environments_dir / "teams").mkdir()
    (environments_dir / "teams" / "bakery.yaml").write_text(
        "name: bakery\nowners: [group:bakery@example.com]\nenvironments: [dev, prod]\nbudget: {monthly_amount: 200}\n"
    )
    assert listing().endswith("budget: 200 USD/month (no alert in dev: no billing_account there)")


def test_a_team_enabled_twice_in_one_environment_is_refused(workspace):
    (workspace / "teams" / "bakery.yaml").write_text(
        "name: bakery\nowners: [group:bakery@example.com]\nenvironments: [dev, dev]\n"
    )
    with pytest.raises(ConfigError) as raised:
        load_teams()
    assert raised.value.problems == [
        "environments/teams/bakery.yaml: environments: ['dev', 'dev'] is not valid; [1] 'dev' is [0] 'dev' again; "
        "expected each environment once"
    ]
