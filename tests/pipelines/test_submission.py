"""The one submission path: parameters stay inside the environment and in their ranges, for the
CLI, the trigger and the committed schedules alike."""

from __future__ import annotations

import json

import pytest
import yaml

from environments.loading import load_environment
from pipelines.logic.model_names import team_model
from pipelines.logic.parameters import DEFAULTS, KFP_TYPES, PIPELINE_PARAMETERS, REQUIRED
from pipelines.ops.cli import compile_pipelines, main
from pipelines.ops.submission import InvalidSubmission, prepare
from pipelines.ops.vertex import Target
from tests.support.functions import make_app

TEAM_ACCOUNT = "team-forecasting@acme-mlops-dev.iam.gserviceaccount.com"


@pytest.fixture(scope="module")
def dev() -> Target:
    return Target.of(load_environment("dev"), team_accounts={"forecasting": TEAM_ACCOUNT})


def problems(target, pipeline, parameters, team=None) -> list[tuple[str, str]]:
    with pytest.raises(InvalidSubmission) as raised:
        prepare(target, pipeline, parameters, team=team, trigger="test")
    return raised.value.problems


@pytest.mark.parametrize(
    ("pipeline", "parameters", "expected"),
    [
        (
            "training",
            {"registry_uri": "vertex://other-project/europe-west1/forecaster"},
            [
                (
                    "parameters.registry_uri",
                    '"vertex://other-project/europe-west1/forecaster" is outside this environment; expected '
                    "vertex://acme-mlops-dev/europe-west1/<model>",
                )
            ],
        ),
        (
            "training",
            {"registry_uri": "vertex://acme-mlops-dev/us-central1/forecaster"},
            [
                (
                    "parameters.registry_uri",
                    '"vertex://acme-mlops-dev/us-central1/forecaster" is outside this environment; expected '
                    "vertex://acme-mlops-dev/europe-west1/<model>",
                )
            ],
        ),
        (
            "training",
            {"registry_uri": "vertex://acme-mlops-dev/europe-west1/forecaster-team-forecasting"},
            [
                (
                    "parameters.registry_uri",
                    '"vertex://acme-mlops-dev/europe-west1/forecaster-team-forecasting" is a team\'s model; '
                    "expected a platform model (not forecaster-team-*)",
                )
            ],
        ),
        (
            "training",
            {"source": "gs://attacker-bucket/load.csv"},
            [
                (
                    "parameters.source",
                    '"gs://attacker-bucket/load.csv" is outside this environment\'s data; expected '
                    "'reference' or gs://acme-mlops-dev-data/<path>",
                )
            ],
        ),
        (
            "monitoring",
            {"training_source": "gs://acme-mlops-dev-data/../acme-mlops-dev-models/x.csv", "drift_threshold": 2},
            [
                ("parameters.drift_threshold", "2 is out of range; expected 0 to 1"),
                (
                    "parameters.training_source",
                    '"gs://acme-mlops-dev-data/../acme-mlops-dev-models/x.csv" is outside this environment\'s '
                    "data; expected 'reference' or gs://acme-mlops-dev-data/<path>",
                ),
            ],
        ),
        ("training", {"source": "/etc/passwd"}, None),
        (
            "training",
            {
                "holdout_days": -5,
                "metric": "r2",
                "promotion_margin": 0.9,
                "model_params": {"n_estimators": 1e9, "max_depth": 2.5, "device": "cuda"},
                "experiment": "Has Spaces",
            },
            [
                (
                    "parameters.experiment",
                    '"Has Spaces" is not an experiment name; expected lowercase letters, digits and hyphens',
                ),
                ("parameters.holdout_days", "-5 is out of range; expected 2 to 60"),
                ("parameters.metric", '"r2" is not one of mae, rmse, mape'),
                ("parameters.promotion_margin", "0.9 is out of range; expected 0 to 0.5"),
                ("parameters.model_params.n_estimators", "1000000000.0 is out of range; expected 1 to 2000"),
                ("parameters.model_params.max_depth", "2.5 is not a whole number; expected an integer from 1 to 16"),
                (
                    "parameters.model_params.device",
                    "unknown setting 'device'; expected one of n_estimators, max_depth, max_leaves, max_bin, "
                    "learning_rate, subsample, colsample_bytree, min_child_weight, gamma, reg_alpha, reg_lambda",
                ),
            ],
        ),
        (
            "prediction",
            {"horizon": 100, "data_spec": {"frequency": "1h", "target": "x", "exogenous_columns": "temperature"}},
            [
                ("parameters.horizon", "100 is out of range; expected 1 to 24"),
                (
                    "parameters.data_spec.target",
                    "unknown key 'target'; expected one of timestamp_column, target_column, exogenous_columns, "
                    "frequency, target_min, target_max",
                ),
                ("parameters.data_spec.exogenous_columns", '"temperature" is a string; expected a list of names'),
            ],
        ),
        (
            "prediction",
            {"data_spec": {"target_column": "load", "exogenous_columns": ["temperature", "load"]}, "horizon": 1},
            [
                (
                    "parameters.data_spec.exogenous_columns[1]",
                    '"load" is already target_column; expected a column of its own',
                )
            ],
        ),
        (
            "prediction",
            {"data_spec": {"exogenous_columns": ["temperature", "temperature"]}, "horizon": 1},
            [
                (
                    "parameters.data_spec.exogenous_columns[1]",
                    '"temperature" is already exogenous_columns[0]; expected a column of its own',
                )
            ],
        ),
        (
            "prediction",
            {"data_spec": {"timestamp_column": "demand"}, "horizon": 1},
            [
                (
                    "parameters.data_spec.target_column",
                    '"demand" is already timestamp_column; expected a column of its own',
                )
            ],
        ),
        (
            "prediction",
            {"data_spec": {"frequency": "half-hour"}, "horizon": 1},
            [
                (
                    "parameters.data_spec.frequency",
                    '"half-hour" is not a frequency that divides a day; expected e.g. 30min, 1h',
                )
            ],
        ),
    ],
)
def test_parameters_outside_the_environment_or_their_range_are_refused(dev, pipeline, parameters, expected):
    if expected is None:
        expected = [
            (
                "parameters.source",
                '"/etc/passwd" is outside this environment\'s data; expected '
                "'reference' or gs://acme-mlops-dev-data/<path>",
            )
        ]
    assert problems(dev, pipeline, parameters) == expected


def test_a_target_without_bounds_is_accepted_as_documented(dev):
    """`target_min: null` allows any value (DataSpec: "None to allow any"): a net load, a temperature."""
    unbounded = {"data_spec": {"target_column": "net_load", "target_min": None, "target_max": None}, "horizon": 1}
    submission = prepare(dev, "prediction", unbounded, team=None, trigger="test")
    assert submission.parameters["data_spec"]["target_min"] is None
    assert problems(dev, "prediction", {"data_spec": {"target_min": "low"}, "horizon": 1}) == [
        ("parameters.data_spec.target_min", '"low" is a string; expected a number')
    ]


def test_a_team_run_stays_in_the_teams_model_data_root_and_account(dev):
    assert team_model("forecasting") == "forecaster-team-forecasting"
    submission = prepare(
        dev,
        "training",
        {"source": "gs://acme-mlops-dev-data/teams/forecasting/load.csv"},
        team="forecasting",
        trigger="scheduler",
    )
    assert submission.parameters["registry_uri"] == "vertex://acme-mlops-dev/europe-west1/forecaster-team-forecasting"
    assert submission.parameters["experiment"] == "forecaster-team-forecasting"
    assert submission.pipeline_root == "gs://acme-mlops-dev-pipeline-root/teams/forecasting"
    assert submission.service_account == TEAM_ACCOUNT
    assert submission.labels["team"] == "forecasting"

    assert problems(
        dev,
        "training",
        {
            "registry_uri": "vertex://acme-mlops-dev/europe-west1/forecaster",
            "source": "gs://acme-mlops-dev-data/shared/load.csv",
        },
        team="forecasting",
    ) == [
        (
            "parameters.registry_uri",
            '"vertex://acme-mlops-dev/europe-west1/forecaster" is not the team\'s model; expected '
            "vertex://acme-mlops-dev/europe-west1/forecaster-team-forecasting",
        ),
        (
            "parameters.source",
            '"gs://acme-mlops-dev-data/shared/load.csv" is outside this environment\'s data; expected '
            "'reference' or gs://acme-mlops-dev-data/teams/forecasting/<path>",
        ),
    ]


def test_the_table_matches_the_compiled_templates(tmp_path):
    """Every parameter of every compiled pipeline is in the table, with its type and default, and
    every default is inside its range."""
    for name, path in compile_pipelines(None, tmp_path).items():
        inputs = yaml.safe_load(path.read_text())["root"]["inputDefinitions"]["parameters"]
        assert sorted(inputs) == sorted(PIPELINE_PARAMETERS[name]), name
        for parameter, spec in inputs.items():
            assert spec["parameterType"] == KFP_TYPES[parameter], parameter
            assert spec.get("defaultValue", REQUIRED) == DEFAULTS[parameter], parameter
    dev = Target.of(load_environment("dev"))
    for name in PIPELINE_PARAMETERS:
        assert prepare(dev, name, {}, team=None, trigger="test").parameters["registry_uri"] == (
            "vertex://acme-mlops-dev/europe-west1/forecaster"
        )


def test_the_cli_and_the_trigger_send_the_same_request(monkeypatch, tmp_path, capsys):
    """One request through `make run-pipeline ENV=dev DRY_RUN=1` and through the trigger's dry
    run (on templates compiled for the same image): the same Vertex AI create request, except
    the trigger label and the job id the trigger derives from the firing."""
    monkeypatch.setenv("IMAGE_TAG", "abc123")
    parameters = {"holdout_days": 14, "source": "gs://acme-mlops-dev-data/uk/load.csv"}
    assert main(["run", "training", "--env", "dev", "--dry-run", "--params", json.dumps(parameters)]) == 0
    from_cli = json.loads(capsys.readouterr().out)

    compile_pipelines(load_environment("dev"), tmp_path)
    client = make_app("pipeline_trigger", {"TEMPLATE_REPOSITORY": str(tmp_path), "DRY_RUN": "true"}, monkeypatch)
    answer = client.post(
        "/",
        json={"pipeline": "training", "parameters": parameters},
        headers={"X-CloudScheduler-ScheduleTime": "2026-11-22T03:00:00Z"},
    ).get_json()
    from_trigger = answer["request"]

    assert from_trigger.pop("query") == {"pipelineJobId": answer["job_id"]}
    assert from_cli.pop("query")["pipelineJobId"].startswith("training-"), "the SDK names a CLI run by its time"
    assert from_cli["body"]["labels"].pop("trigger") == "cli"
    assert from_trigger["body"]["labels"].pop("trigger") == "scheduler"
    assert from_cli["url"] == from_trigger["url"]
    assert from_cli["body"] == from_trigger["body"]
    assert from_cli["body"]["runtimeConfig"]["parameterValues"] == {
        "holdout_days": 14.0,
        "source": "gs://acme-mlops-dev-data/uk/load.csv",
        # the model of this source and spec (model_names.derived_model), not the reference's
        "registry_uri": "vertex://acme-mlops-dev/europe-west1/forecaster-ef027ac4-load",
        "experiment": "forecaster-ef027ac4-load",
    }


def test_the_cli_refuses_out_of_range_parameters_with_exit_2(capsys):
    code = main(["run", "training", "--env", "dev", "--dry-run", "--params", '{"holdout_days": -5, "metric": "r2"}'])
    assert code == 2
    assert capsys.readouterr().err == (
        "run-pipeline dev: PARAMS.holdout_days: -5 is out of range; expected 2 to 60\n"
        'run-pipeline dev: PARAMS.metric: "r2" is not one of mae, rmse, mape\n'
    )
    assert main(["run", "training", "--params", '{"holdout_days": 1}']) == 2, "local runs check ranges too"
    assert capsys.readouterr().err == "PARAMS.holdout_days: 1 is out of range; expected 2 to 60\n"


def test_a_team_where_none_is_enabled_says_so_not_that_none_is_onboarded():
    """Teams are enabled per environment: one of prod's may exist while dev has none."""
    bare = Target.of(load_environment("dev"), team_accounts={})
    assert problems(bare, "training", {}, team="forecasting") == [
        (
            "team",
            '"forecasting" is not a team of this environment; no team is enabled in this environment, so expected none',
        )
    ]
