"""The config model: every kind of bad file gets one exact message, and names and labels follow the file."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from environments.loading import environment_names, load_environment, load_environments
from environments.messages import ConfigError

# An environment file of the tests' own (editing environments/dev.yaml never changes these tests).
DEV = """# A development environment.
project_id: fixture-dev
region: europe-west1
state_bucket: fixture-dev-tfstate
labels:
  cost-center: ml-platform
encryption:
  cmek: false            # Google-managed keys
composer:
  enabled: false         # off unless needed
notifications:
  emails: [ml-platform@example.com]
functions:
  predict:
    invokers: [group:callers@example.com]
schedules:
  - name: daily-training
    cron: "0 3 * * *"
    pipeline: training
"""


def test_every_committed_environment_loads():
    assert [environment.name for environment in load_environments()] == environment_names()


def test_resource_names_and_labels_derive_from_the_environment(environments_dir: Path):
    (environments_dir / "dev.yaml").write_text(DEV)
    dev = load_environment("dev")
    assert dev.names.bucket("data") == "fixture-dev-data"
    assert dev.names.pipeline_root == "gs://fixture-dev-pipeline-root"
    assert dev.names.service_account_email("pipelines-runner") == "pipelines-runner@fixture-dev.iam.gserviceaccount.com"
    assert dev.names.kfp_repository_url == "https://europe-west1-kfp.pkg.dev/fixture-dev/pipelines"
    assert dev.resource_labels(team="forecasting") == {
        "cost-center": "ml-platform",
        "env": "dev",
        "managed-by": "mlops-platform",
        "team": "forecasting",
    }


def bad_cron(cron: str, problem: str) -> tuple[str, str]:
    """The dev file with a schedule's cron replaced, and the message it gets."""
    return (
        DEV.replace('cron: "0 3 * * *"', f"cron: '{cron}'"),
        f"schedules[0].cron: '{cron}' is not valid; {problem}; expected a unix-cron expression of five fields "
        "(minute 0-59, hour 0-23, day of the month 1-31, month 1-12 or JAN-DEC, day of the week 0-7 or SUN-SAT), "
        "such as '0 3 * * *'",
    )


DELIVERY = """delivery:
  repository: projects/fixture-dev/locations/europe-west1/connections/c/repositories/r
  deploy_on: branch
  pattern: ^main$
"""

BAD_FILES = {
    "unknown key": (
        DEV + "colour: blue\n",
        "colour: unknown key; expected one of billing_account, composer, cycle, dashboard, delivery, encryption, "
        "functions, labels, notifications, project_id, region, schedules, state_bucket, storage, "
        "team_owners_run_pipelines",
    ),
    "unknown nested key": (
        DEV.replace("  enabled: false", "  enabled: false\n  zone: b"),
        "composer.zone: unknown key; expected one of enabled, image_version, size",
    ),
    "value not in a set": (
        DEV.replace("  enabled: false ", "  size: huge\n  enabled: false "),
        "composer.size: 'huge' is not one of small, medium, large",
    ),
    "wrong type": (
        DEV.replace("  enabled: false ", "  enabled: 'yes' "),
        "composer.enabled: 'yes' is a string; expected true or false",
    ),
    "wrong container type": (
        DEV.replace("labels:\n  cost-center: ml-platform", "labels: 5"),
        "labels: 5 is an integer; expected a mapping",
    ),
    "missing key": (
        DEV.replace("project_id: fixture-dev\n", ""),
        "project_id: required key is missing; expected a Google Cloud project id",
    ),
    "bad project id": (
        DEV.replace("project_id: fixture-dev\n", "project_id: Acme_Dev\n"),
        "project_id: 'Acme_Dev' is not valid; expected a Google Cloud project id: 6 to 30 lowercase "
        "letters, digits and hyphens, starting with a letter, not ending with a hyphen, not "
        "containing 'google'",
    ),
    "bad region": (
        DEV.replace("region: europe-west1", "region: europe-west99"),
        "region: 'europe-west99' is not valid; expected a Google Cloud region such as europe-west1 or us-central1",
    ),
    "out of range": (
        DEV.replace("cmek: false ", "cmek: false\n  key_rotation_days: 120 "),
        "encryption.key_rotation_days: 120 is out of range; expected at most 90",
    ),
    "bad list item": (
        DEV.replace("ml-platform@example.com", "nope"),
        "notifications.emails[0]: 'nope' is not valid; expected an email address",
    ),
    "address with shell syntax": (
        DEV.replace("ml-platform@example.com", "'$(id)@example.com'"),
        "notifications.emails[0]: '$(id)@example.com' is not valid; expected an email address",
    ),
    "reserved label": (
        DEV.replace("cost-center: ml-platform", "env: x"),
        "labels: {'env': 'x'} is not valid; expected none of the keys the platform sets itself (env)",
    ),
    # Cloud Scheduler refuses these when it creates the job
    # (cloud.google.com/scheduler/docs/configuring/cron-job-schedules).
    "bad cron": bad_cron("0 3 * *", "4 fields"),
    "cron hour out of range": bad_cron("0 25 * * *", "hour '25' is out of range (0-23)"),
    "cron of one word": bad_cron("daily", "1 field"),
    "a schedule name too long": (
        DEV.replace("name: daily-training", f"name: {'a' * 51}"),
        f"schedules[0].name: '{'a' * 51}' is not valid; expected lowercase letters, digits and hyphens, starting "
        "with a letter, at most 50 characters",
    ),
    "a ratio below zero": (
        DEV + "cycle: {degradation_ratio: -1}\n",
        "cycle.degradation_ratio: -1 is out of range; expected more than 0",
    ),
    "cron of words": bad_cron("abc def ghi jkl mno", "minute 'abc' is not a number"),
    "cron range backwards": bad_cron(
        "0 3 * * FRI-MON", "day of the week 'FRI-MON' is a range that ends before it starts"
    ),
    "an address twice": (
        DEV.replace("[ml-platform@example.com]", "[ml-platform@example.com, ML-Platform@example.com]"),
        "notifications.emails: ['ml-platform@example.com', 'ML-Platform@example.com'] is not valid; [1] "
        "'ML-Platform@example.com' is [0] 'ml-platform@example.com' again (addresses are read without regard to "
        "case); expected each address once",
    ),
    "a branch pattern that is no regular expression": (
        DEV + DELIVERY.replace("^main$", "^(main$"),
        "delivery.pattern: '^(main$' is not valid; not an RE2 regular expression, as Cloud Build reads it (missing ): "
        "^(main$); expected e.g. ^main$ or ^v.*$ (RE2 has no lookahead, lookbehind or backreferences)",
    ),
    "a branch pattern that only Python's re takes": (
        DEV + DELIVERY.replace("^main$", "^(?!wip/).*$"),
        "delivery.pattern: '^(?!wip/).*$' is not valid; not an RE2 regular expression, as Cloud Build reads it "
        "(invalid perl operator: (?!); expected e.g. ^main$ or ^v.*$ (RE2 has no lookahead, lookbehind or "
        "backreferences)",
    ),
    "a planner that is no service account": (
        DEV + DELIVERY + "  plan_service_account: bob@gmail.com\n",
        "delivery.plan_service_account: 'bob@gmail.com' is not valid; expected a service account's email, e.g. "
        "planner@<project>.iam.gserviceaccount.com",
    ),
    "not YAML": (
        "project_id: [unclosed\n",
        "not valid YAML: line 2, column 1: expected ',' or ']', but got '<stream end>'",
    ),
    "duplicate key": (
        DEV + "region: us-central1\n",
        f"not valid YAML: line {DEV.count(chr(10)) + 1}, column 1: duplicate key 'region'",
    ),
    "empty": ("", "the file is empty; expected a mapping of settings"),
    "comments only": ("# nothing yet\n", "the file is empty; expected a mapping of settings"),
    "not a mapping": ("- a\n- b\n", "top level: ['a', 'b'] is a list; expected a mapping of settings"),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_bad_file_gets_one_exact_message(case: str, environments_dir: Path):
    text, expected = BAD_FILES[case]
    (environments_dir / "broken.yaml").write_text(text)
    with pytest.raises(ConfigError) as raised:
        load_environment("broken")
    assert raised.value.problems == [f"environments/broken.yaml: {expected}"]


def test_two_environments_in_one_project_are_refused_naming_both(environments_dir: Path):
    """A copy of dev.yaml saved as staging.yaml, not edited yet, would apply over dev's resources."""
    from environments.loading import load_environments

    (environments_dir / "dev.yaml").write_text(DEV)
    (environments_dir / "staging.yaml").write_text(DEV)
    with pytest.raises(ConfigError) as raised:
        load_environments()
    assert raised.value.problems == [
        f"environments/staging.yaml: {key}: '{value}' is dev's too; expected an environment's own (each "
        "environment is a project of its own)"
        for key, value in (("project_id", "fixture-dev"), ("state_bucket", "fixture-dev-tfstate"))
    ]
    assert [e.name for e in load_environments(["staging"])] == ["staging"], "one alone is an environment"


def test_every_problem_of_a_file_is_reported_at_once(environments_dir: Path):
    (environments_dir / "broken.yaml").write_text(
        DEV.replace("europe-west1", "mars-north1").replace("  enabled: false ", "  enabled: 3 ")
    )
    with pytest.raises(ConfigError) as raised:
        load_environment("broken")
    assert [p.split(": ")[1] for p in raised.value.problems] == ["region", "composer.enabled"]


def test_a_bad_team_file_is_reported_once_not_once_per_environment(environments_dir: Path):
    (environments_dir / "dev.yaml").write_text(DEV)
    (environments_dir / "prod.yaml").write_text(DEV.replace("fixture-dev", "fixture-prod"))
    (environments_dir / "teams").mkdir(exist_ok=True)
    (environments_dir / "teams" / "pricing.yaml").write_text(
        "name: pricing\nowners: [group:p@example.com]\nenvironments: [dev, prod]\nbudgte: 5\n"
    )
    with pytest.raises(ConfigError) as raised:
        load_environments()
    assert raised.value.problems == [
        "environments/teams/pricing.yaml: budgte: unknown key; expected one of budget, environments, name, owners, "
        "schedules"
    ]


def test_team_budgets_on_one_billing_account_share_its_currency(environments_dir: Path):
    (environments_dir / "dev.yaml").write_text(DEV + "billing_account: 0A0A0A-1B1B1B-2C2C2C\n")
    (environments_dir / "prod.yaml").write_text(DEV.replace("fixture-dev", "fixture-prod"))  # no billing account
    (environments_dir / "teams").mkdir(exist_ok=True)
    for team, currency in (("alpha", "USD"), ("beta", "EUR"), ("gamma", "USD")):
        (environments_dir / "teams" / f"{team}.yaml").write_text(
            f"name: {team}\nowners: [group:{team}@example.com]\nenvironments: [dev, prod]\n"
            f"budget: {{monthly_amount: 100, currency: {currency}}}\n"
        )
    with pytest.raises(ConfigError) as raised:
        load_environment("dev")
    assert raised.value.problems == [
        "environments/teams/beta.yaml: budget.currency: 'EUR' differs from 'USD' (team alpha), on dev's billing "
        "account 0A0A0A-1B1B1B-2C2C2C; expected every team budget in the billing account's currency"
    ]
    assert [team.name for team in load_environment("prod").teams] == ["alpha", "beta", "gamma"], "no budgets there"


def test_unknown_environment_lists_the_known_ones(environments_dir: Path):
    (environments_dir / "dev.yaml").write_text(DEV)
    with pytest.raises(ConfigError) as raised:
        load_environment("../dev")
    assert raised.value.problems == ["ENV: '../dev' is not an environment; expected one of dev"]


yaml_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=10), children, max_size=3),
    max_leaves=8,
)
keys = st.sampled_from(
    [
        "project_id",
        "region",
        "state_bucket",
        "labels",
        "encryption",
        "composer",
        "storage",
        "notifications",
        "schedules",
        "surprise",
    ]
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(overrides=st.dictionaries(keys, yaml_values, min_size=1, max_size=3))
def test_any_bad_value_is_a_config_error_naming_the_file(overrides: dict, environments_dir: Path):
    document = yaml.safe_load(DEV) | overrides
    (environments_dir / "fuzz.yaml").write_text(yaml.safe_dump(document))
    try:
        load_environment("fuzz")
    except ConfigError as error:
        assert error.problems and all(p.startswith("environments/fuzz.yaml: ") for p in error.problems)


def test_a_stray_yaml_file_is_refused_never_read_as_an_environment(environments_dir):
    from environments.loading import environment_names

    (environments_dir / "dev.yaml").write_text(DEV)
    (environments_dir / "values.yml").write_text("project_id: somewhere-else\n")
    (environments_dir / "dev.backup.yaml").write_text("project_id: somewhere-else\n")
    (environments_dir / "notes.md").write_text("not YAML: ignored\n")
    with pytest.raises(ConfigError) as refused:
        environment_names()
    expected = (
        "not an environment file; expected environments/<name>.yaml with a name of up to 20 lowercase letters, "
        "digits and hyphens, starting with a letter (keep other files out of environments/)"
    )
    assert refused.value.problems == [
        f"environments/dev.backup.yaml: {expected}",
        f"environments/values.yml: {expected}",
    ]


@settings(max_examples=300, deadline=None)
@given(document=st.dictionaries(st.text(max_size=10), yaml_values, max_size=4), flow=st.booleans())
def test_libyaml_and_pyyaml_read_any_document_alike(document: dict, flow: bool):
    """Environment files are parsed by libyaml (fast) and refusals re-read by PyYAML (its messages):
    both must read every document to the same values."""
    from environments.loading import _CheckedLoader, _FastLoader

    assert yaml.CSafeLoader in _FastLoader.__mro__  # libyaml is what the fast path uses here
    text = yaml.safe_dump(document, default_flow_style=flow, allow_unicode=True)
    assert yaml.load(text, Loader=_FastLoader) == yaml.load(text, Loader=_CheckedLoader)  # noqa: S506
