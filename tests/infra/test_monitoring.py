"""Alert policies, their log-based metrics and notification channels in the synthesized stacks."""

from __future__ import annotations

import pytest

LOG_CONDITION = {
    "aggregations": [
        {"alignment_period": "300s", "cross_series_reducer": "REDUCE_SUM", "per_series_aligner": "ALIGN_DELTA"}
    ],
    "comparison": "COMPARISON_GT",
    "duration": "0s",
    "threshold_value": 0,
}
COUNT = {"alignment_period": "300s", "cross_series_reducer": "REDUCE_SUM", "per_series_aligner": "ALIGN_DELTA"}


def by_path(stack: dict, resource_type: str) -> dict[str, dict]:
    """Resources of a type by construct path without the stack name, e.g. `alerts/predict-5xx`."""
    items = stack.get("resource", {}).get(resource_type, {}).values()
    return {body["//"]["metadata"]["path"].split("/", 1)[1]: body for body in items}


def reference(stack: dict, resource_type: str, path: str, attribute: str) -> str:
    (logical_id,) = [
        k for k, v in stack["resource"][resource_type].items() if v["//"]["metadata"]["path"].endswith(path)
    ]
    return "${" + f"{resource_type}.{logical_id}.{attribute}" + "}"


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        # Delivery triggers but no schedules: no scheduler alert.
        (
            "delivery",
            [
                "delivery: a Vertex AI pipeline run failed",
                "delivery: a main-branch or tag build failed",
                "delivery: pipeline-trigger answers 5xx",
                "delivery: predict answers 5xx",
                "delivery: predict is slow",
            ],
        ),
        # Only a team's schedule: the scheduler alert watches it; no delivery, no build alert.
        (
            "teams",
            [
                "teams: a Cloud Scheduler job failed to start a pipeline",
                "teams: a Vertex AI pipeline run failed",
                "teams: pipeline-trigger answers 5xx",
                "teams: predict answers 5xx",
                "teams: predict is slow",
            ],
        ),
        (
            "everything",
            [
                "everything: a Cloud Scheduler job failed to start a pipeline",
                "everything: a Vertex AI pipeline run failed",
                "everything: a main-branch or tag build failed",
                "everything: pipeline-trigger answers 5xx",
                "everything: predict answers 5xx",
                "everything: predict is slow",
            ],
        ),
        # No schedules and no delivery triggers: nothing to watch there.
        (
            "nothing",
            [
                "nothing: a Vertex AI pipeline run failed",
                "nothing: pipeline-trigger answers 5xx",
                "nothing: predict answers 5xx",
                "nothing: predict is slow",
            ],
        ),
    ],
)
def test_each_environment_has_its_alert_policies(fixture_stacks, env, expected):
    policies = by_path(fixture_stacks[env], "google_monitoring_alert_policy").values()
    assert sorted(p["display_name"] for p in policies) == expected
    for policy in policies:
        assert policy["combiner"] == "OR"
        assert policy["alert_strategy"] == {"auto_close": "1800s"}
        assert policy["user_labels"]["env"] == env


@pytest.mark.parametrize(
    ("env", "channels"),
    [
        ("budgets", {"notify-0": "budgets@example.com"}),
        ("everything", {"notify-0": "alerts@example.com"}),
        ("nothing", {}),
    ],
)
def test_every_policy_goes_to_every_email_channel_made_once(fixture_stacks, env, channels):
    stack = fixture_stacks[env]
    made = by_path(stack, "google_monitoring_notification_channel")
    assert {path: c["labels"]["email_address"] for path, c in made.items()} == channels
    assert all(c["type"] == "email" for c in made.values())
    names = [f"${{google_monitoring_notification_channel.{path}.name}}" for path in sorted(channels)]
    for policy in by_path(stack, "google_monitoring_alert_policy").values():
        assert policy.get("notification_channels") == (names or None)
    # The team budget (fixture "everything") uses the same channels.
    for budget in stack["resource"].get("google_billing_budget", {}).values():
        assert budget["all_updates_rule"]["monitoring_notification_channels"] == names


def test_log_based_metrics_have_literal_filters(fixture_stacks):
    prod = fixture_stacks["everything"]
    metrics = by_path(prod, "google_logging_metric")
    assert sorted(metrics) == [
        "alerts/build-failures-metric",
        "alerts/pipeline-failures-metric",
        "alerts/scheduler-failures-metric",
    ]
    assert metrics["alerts/pipeline-failures-metric"]["filter"] == (
        'logName="projects/fixture-everything/logs/aiplatform.googleapis.com%2Fpipeline_job_events" AND '
        '(jsonPayload.state="PIPELINE_STATE_FAILED" OR severity>=ERROR)'
    )
    assert metrics["alerts/scheduler-failures-metric"]["filter"] == (
        'resource.type="cloud_scheduler_job" AND severity>=ERROR'
    )
    trigger = {
        name: reference(prod, "google_cloudbuild_trigger", f"delivery/{name}", "trigger_id")
        for name in ("publish-pipelines", "plan", "apply")
    }
    assert metrics["alerts/build-failures-metric"]["filter"] == (
        f'resource.type="build" AND resource.labels.build_trigger_id=("{trigger["publish-pipelines"]}" OR '
        f'"{trigger["plan"]}" OR "{trigger["apply"]}") AND textPayload="ERROR"'
    )
    assert {m["name"] for m in metrics.values()} == {
        "everything-build-failures",
        "everything-pipeline-failures",
        "everything-scheduler-failures",
    }
    for metric in metrics.values():
        assert metric["metric_descriptor"] == {"metric_kind": "DELTA", "unit": "1", "value_type": "INT64"}


def test_build_alerts_watch_main_branch_builds_not_pull_requests(fixture_stacks):
    dev = fixture_stacks["delivery"]
    (metric,) = [m for p, m in by_path(dev, "google_logging_metric").items() if p == "alerts/build-failures-metric"]
    publish = reference(dev, "google_cloudbuild_trigger", "delivery/publish-pipelines", "trigger_id")
    deploy = reference(dev, "google_cloudbuild_trigger", "delivery/deploy", "trigger_id")
    assert metric["filter"] == (
        f'resource.type="build" AND resource.labels.build_trigger_id=("{publish}" OR "{deploy}") AND '
        'textPayload="ERROR"'
    )
    assert "pull-request-checks" not in metric["filter"]


def test_log_alerts_fire_on_one_matching_entry(fixture_stacks):
    prod = fixture_stacks["everything"]
    policies = by_path(prod, "google_monitoring_alert_policy")
    for name in ("pipeline-failures", "scheduler-failures", "build-failures"):
        (condition,) = policies[f"alerts/{name}"]["conditions"]
        metric = reference(prod, "google_logging_metric", f"alerts/{name}-metric", "name")
        assert condition["condition_threshold"] == LOG_CONDITION | {
            "filter": f'metric.type="logging.googleapis.com/user/{metric}"'
        }


def test_function_alerts_watch_the_cloud_run_services_of_the_functions(fixture_stacks):
    policies = by_path(fixture_stacks["nothing"], "google_monitoring_alert_policy")
    for service in ("pipeline-trigger", "predict"):
        (condition,) = policies[f"alerts/{service}-5xx"]["conditions"]
        requests = (
            f'resource.type="cloud_run_revision" AND resource.labels.service_name="{service}" AND '
            'metric.type="run.googleapis.com/request_count"'
        )
        assert condition["condition_threshold"] == {
            "filter": requests + ' AND metric.labels.response_code_class="5xx"',
            "denominator_filter": requests,
            "comparison": "COMPARISON_GT",
            "threshold_value": 0.05,
            "duration": "0s",
            "aggregations": [COUNT],
            "denominator_aggregations": [COUNT],
        }
    (latency,) = policies["alerts/predict-latency"]["conditions"]
    assert latency["condition_threshold"] == {
        "filter": 'resource.type="cloud_run_revision" AND resource.labels.service_name="predict" AND '
        'metric.type="run.googleapis.com/request_latencies"',
        "comparison": "COMPARISON_GT",
        "threshold_value": 2000,
        "duration": "600s",
        "aggregations": [
            {
                "alignment_period": "300s",
                "cross_series_reducer": "REDUCE_MAX",
                "per_series_aligner": "ALIGN_PERCENTILE_99",
            }
        ],
    }
    functions = {f["name"] for f in fixture_stacks["nothing"]["resource"]["google_cloudfunctions2_function"].values()}
    assert functions == {"pipeline-trigger", "predict"}


@pytest.mark.parametrize("env", ["nothing", "cmek", "composer", "budgets", "teams", "delivery", "everything"])
def test_monitoring_and_logging_are_enabled_and_the_deployer_may_manage_alerts(fixture_stacks, env):
    stack = fixture_stacks[env]
    enabled = {s["service"] for s in stack["resource"]["google_project_service"].values()}
    assert {"monitoring.googleapis.com", "logging.googleapis.com"} <= enabled
    (role,) = [
        r
        for r in stack["resource"]["google_project_iam_custom_role"].values()
        if r["role_id"] == "platformAlertingAdmin"
    ]
    assert role["permissions"] == [
        f"{service}.{kind}.{verb}"
        for service, kind in (
            ("logging", "logMetrics"),
            ("monitoring", "alertPolicies"),
            ("monitoring", "notificationChannels"),
        )
        for verb in ("create", "delete", "get", "list", "update")
    ]
    deployer_roles = {
        g["role"]
        for g in stack["resource"]["google_project_iam_member"].values()
        if g["//"]["metadata"]["path"].startswith(f"{env}/project-roles/deployer-")
    }
    assert f"projects/{stack['provider']['google'][0]['project']}/roles/platformAlertingAdmin" in deployer_roles
    assert "roles/monitoring.notificationChannelEditor" not in deployer_roles


def test_with_a_billing_account_the_whole_project_has_a_budget(fixture_stacks):
    stack = fixture_stacks["everything"]
    budgets = by_path(stack, "google_billing_budget")
    assert sorted(budgets) == ["platform-budget/budget", "team-forecasting/budget/budget"]
    platform = budgets["platform-budget/budget"]
    project = reference_data(stack, "google_project", "project", "number")
    assert platform["billing_account"] == "0A0A0A-1B1B1B-2C2C2C"
    assert platform["display_name"] == "everything platform"
    assert platform["budget_filter"] == {"projects": [f"projects/{project}"], "calendar_period": "MONTH"}
    assert platform["amount"] == {"last_period_amount": True}
    assert platform["threshold_rules"] == [{"threshold_percent": 1.0}, {"threshold_percent": 1.5}]
    assert platform["all_updates_rule"] == {
        "monitoring_notification_channels": ["${google_monitoring_notification_channel.notify-0.name}"]
    }
    enabled = {s["service"] for s in stack["resource"]["google_project_service"].values()}
    assert "billingbudgets.googleapis.com" in enabled


@pytest.mark.parametrize("env", ["nothing", "cmek", "composer", "teams", "delivery"])
def test_without_a_billing_account_there_is_no_budget(fixture_stacks, env):
    stack = fixture_stacks[env]
    assert not by_path(stack, "google_billing_budget")
    enabled = {s["service"] for s in stack["resource"]["google_project_service"].values()}
    assert "billingbudgets.googleapis.com" not in enabled


def reference_data(stack: dict, data_type: str, name: str, attribute: str) -> str:
    (logical_id,) = stack["data"][data_type]
    return "${" + f"data.{data_type}.{logical_id}.{attribute}" + "}"
