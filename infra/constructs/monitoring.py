"""Who hears about what goes wrong: email notification channels and Cloud Monitoring alert policies.

Every policy goes to the environment's `notifications.emails` channels (made once, by
`email_channels`, and shared with the budgets). With no emails listed the policies still open
incidents in Cloud Monitoring, where nobody is told: list at least one address.

Alerts on log entries go through log-based counter metrics (google_logging_metric), whose time
series are `logging.googleapis.com/user/<metric name>`
(cloud.google.com/logging/docs/logs-based-metrics). A threshold condition's filter "must specify
the metric type and optionally may contain restrictions on resource type"
(cloud.google.com/monitoring/api/ref_v3/rest/v3/projects.alertPolicies#MetricThreshold), so the
log-based conditions name only the metric and the log filter alone decides what counts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from cdktn_provider_google import monitoring_alert_policy as alert
from cdktn_provider_google.cloudbuild_trigger import CloudbuildTrigger
from cdktn_provider_google.logging_metric import LoggingMetric, LoggingMetricMetricDescriptor
from cdktn_provider_google.monitoring_notification_channel import MonitoringNotificationChannel
from constructs import Construct

# How long a window each condition looks at, and how long a firing condition stays open after the
# last bad data point before it closes itself.
ALIGNMENT_PERIOD = "300s"
AUTO_CLOSE = "1800s"
# Share of a function's requests answered 5xx over the alignment period that opens an incident.
# Every trigger call is a scheduled run, so a single failed call (1 of 1) is over it too.
ERROR_RATIO = 0.05
# predict's 99th percentile latency (ms) that opens an incident when it lasts LATENCY_DURATION:
# sustained, so one cold start (min instances 0) does not page anyone.
LATENCY_P99_MS = 2000
LATENCY_DURATION = "600s"
# Counts per alignment period, summed over every series (revisions, locations, response codes).
SUM = {"alignment_period": ALIGNMENT_PERIOD, "per_series_aligner": "ALIGN_DELTA", "cross_series_reducer": "REDUCE_SUM"}

# Vertex AI Pipelines writes job state changes to the log `aiplatform.googleapis.com/pipeline_job_events`
# (cloud.google.com/vertex-ai/docs/pipelines/logging). A failed job's state is PIPELINE_STATE_FAILED
# (cloud.google.com/vertex-ai/docs/reference/rest/v1/PipelineState). UNVERIFIED: the field that holds
# the state in the event payload and the severity of a failure event were not checked on a real
# entry, so the filter accepts either (`jsonPayload.state`, or any event at ERROR or above).
PIPELINE_FAILURES = (
    'logName="projects/{project}/logs/aiplatform.googleapis.com%2Fpipeline_job_events" AND '
    '(jsonPayload.state="PIPELINE_STATE_FAILED" OR severity>=ERROR)'
)
# Cloud Scheduler logs each attempt on the `cloud_scheduler_job` resource; a failed attempt
# (AttemptFinished with an error status) is logged at ERROR (cloud.google.com/scheduler/docs/view-logs).
# UNVERIFIED: payload fields not checked on a real entry; the filter uses only the resource and severity.
SCHEDULER_FAILURES = 'resource.type="cloud_scheduler_job" AND severity>=ERROR'
# Builds log to Cloud Logging on the `build` resource, labelled with the trigger that started them
# (cloud.google.com/build/docs/securing-builds/store-manage-build-logs). A failed build's log ends
# with the line `ERROR` (statuses: cloud.google.com/build/docs/api/reference/rest/v1/projects.builds#Status).
# UNVERIFIED: the `ERROR` line is what a Google-authored alert (go.googlesource.com/pkgsite-metrics,
# "terraform: add alert for build failures") matches, not a documented contract; Google's documented
# way is the `cloud-builds` Pub/Sub topic (cloud.google.com/build/docs/subscribe-build-notifications).
BUILD_FAILURES = 'resource.type="build" AND resource.labels.build_trigger_id=({triggers}) AND textPayload="ERROR"'
# Gen2 functions run as Cloud Run services of the same name: requests are counted by
# `run.googleapis.com/request_count` (label `response_code_class`, e.g. "5xx") and timed by
# `run.googleapis.com/request_latencies` (a distribution in ms), on the `cloud_run_revision` resource
# labelled `service_name` (cloud.google.com/monitoring/api/metrics_gcp#gcp-run). UNVERIFIED wording:
# the metric list page was not read here; the names are Google's long-standing ones.
REQUESTS = (
    'resource.type="cloud_run_revision" AND resource.labels.service_name="{service}" AND '
    'metric.type="run.googleapis.com/request_count"'
)
LATENCIES = (
    'resource.type="cloud_run_revision" AND resource.labels.service_name="{service}" AND '
    'metric.type="run.googleapis.com/request_latencies"'
)


def email_channels(
    scope: Construct, *, environment: str, emails: Sequence[str], labels: dict[str, str]
) -> list[MonitoringNotificationChannel]:
    """One email channel per address of `notifications.emails`, for alerts and budgets alike."""
    return [
        MonitoringNotificationChannel(
            scope,
            f"notify-{index}",
            display_name=f"{environment} platform: {email}",
            type="email",
            labels={"email_address": email},
            user_labels=labels,
        )
        for index, email in enumerate(emails)
    ]


@dataclass(frozen=True)
class Watched:
    """What the alerts watch: the functions' service names, whether the environment has schedules,
    and the Cloud Build triggers of main-branch and tag builds."""

    pipeline_trigger: str
    predict: str
    schedules: bool
    release_triggers: Sequence[CloudbuildTrigger]


class PlatformAlerts(Construct):
    """Alert policies on failed pipeline runs, the trigger's and predict's 5xx ratios, predict's
    latency, failed schedule deliveries (when there are schedules) and failed release builds (when
    the environment has delivery triggers), each to every channel of `channels`."""

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        environment: str,
        project_id: str,
        watched: Watched,
        channels: Sequence[str],
        labels: dict[str, str],
    ) -> None:
        super().__init__(scope, id)
        self.environment = environment
        self.channels = list(channels)
        self.labels = labels

        self._log_alert(
            "pipeline-failures",
            "a Vertex AI pipeline run failed",
            PIPELINE_FAILURES.format(project=project_id),
        )
        for function in (watched.pipeline_trigger, watched.predict):
            self._error_ratio_alert(function)
        self._latency_alert(watched.predict)
        if watched.schedules:
            self._log_alert(
                "scheduler-failures", "a Cloud Scheduler job failed to start a pipeline", SCHEDULER_FAILURES
            )
        if watched.release_triggers:
            triggers = " OR ".join(f'"{trigger.trigger_id}"' for trigger in watched.release_triggers)
            self._log_alert(
                "build-failures",
                "a main-branch or tag build failed",
                BUILD_FAILURES.format(triggers=triggers),
            )

    def _policy(self, name: str, summary: str, threshold: dict, documentation: str) -> None:
        alert.MonitoringAlertPolicy(
            self,
            name,
            display_name=f"{self.environment}: {summary}",
            combiner="OR",
            conditions=[
                alert.MonitoringAlertPolicyConditions(
                    display_name=summary,
                    condition_threshold=alert.MonitoringAlertPolicyConditionsConditionThreshold(**threshold),
                )
            ],
            notification_channels=self.channels or None,
            alert_strategy=alert.MonitoringAlertPolicyAlertStrategy(auto_close=AUTO_CLOSE),
            documentation=alert.MonitoringAlertPolicyDocumentation(content=documentation, mime_type="text/markdown"),
            severity="ERROR",
            user_labels=self.labels,
        )

    def _log_alert(self, name: str, summary: str, log_filter: str) -> None:
        """An incident as soon as one log entry matches `log_filter` within the alignment period."""
        metric = LoggingMetric(
            self,
            f"{name}-metric",
            name=f"{self.environment}-{name}",
            description=f"Log entries where {summary}",
            filter=log_filter,
            metric_descriptor=LoggingMetricMetricDescriptor(metric_kind="DELTA", value_type="INT64", unit="1"),
        )
        self._policy(
            name,
            summary,
            {
                "filter": f'metric.type="logging.googleapis.com/user/{metric.name}"',
                "comparison": "COMPARISON_GT",
                "threshold_value": 0,
                "duration": "0s",
                "aggregations": [alert.MonitoringAlertPolicyConditionsConditionThresholdAggregations(**SUM)],
            },
            f"Logs Explorer query for the entries behind this alert:\n\n```\n{log_filter}\n```",
        )

    def _error_ratio_alert(self, service: str) -> None:
        requests = REQUESTS.format(service=service)
        self._policy(
            f"{service}-5xx",
            f"{service} answers 5xx",
            {
                "filter": f'{requests} AND metric.labels.response_code_class="5xx"',
                "denominator_filter": requests,
                "comparison": "COMPARISON_GT",
                "threshold_value": ERROR_RATIO,
                "duration": "0s",
                "aggregations": [alert.MonitoringAlertPolicyConditionsConditionThresholdAggregations(**SUM)],
                "denominator_aggregations": [
                    alert.MonitoringAlertPolicyConditionsConditionThresholdDenominatorAggregations(**SUM)
                ],
            },
            f"More than {ERROR_RATIO:.0%} of {service}'s requests answered 5xx over {ALIGNMENT_PERIOD}. "
            f'Its logs: `resource.type="cloud_run_revision" AND resource.labels.service_name="{service}"`.',
        )

    def _latency_alert(self, service: str) -> None:
        self._policy(
            f"{service}-latency",
            f"{service} is slow",
            {
                "filter": LATENCIES.format(service=service),
                "comparison": "COMPARISON_GT",
                "threshold_value": LATENCY_P99_MS,
                "duration": LATENCY_DURATION,
                "aggregations": [
                    alert.MonitoringAlertPolicyConditionsConditionThresholdAggregations(
                        alignment_period=ALIGNMENT_PERIOD,
                        per_series_aligner="ALIGN_PERCENTILE_99",
                        cross_series_reducer="REDUCE_MAX",
                    )
                ],
            },
            f"{service}'s 99th percentile latency stayed above {LATENCY_P99_MS} ms for {LATENCY_DURATION}.",
        )
