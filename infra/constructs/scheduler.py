"""A Cloud Scheduler job that starts a pipeline through the trigger function."""

from __future__ import annotations

import base64
import json

from cdktn import TerraformResourceLifecycle
from cdktn_provider_google.cloud_scheduler_job import (
    CloudSchedulerJob,
    CloudSchedulerJobHttpTarget,
    CloudSchedulerJobHttpTargetOidcToken,
    CloudSchedulerJobRetryConfig,
)
from constructs import Construct

from environments.schema import Schedule
from infra.constructs.function import CloudFunction
from infra.constructs.identity import WorkloadIdentity


class ScheduledPipeline(Construct):
    """POSTs `{pipeline, version, parameters, team?}` to the trigger on `schedule.cron`, with an
    OIDC token of the invoker identity (audience: the trigger's URL). Failed deliveries are
    retried with backoff; the trigger's job ids make retries safe.

    Whether the job is paused is the operator's (`make pause-schedule` / `resume-schedule`): the
    stack never sets it and ignores its changes, so an apply leaves a paused job paused."""

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        name: str,
        schedule: Schedule,
        region: str,
        trigger: CloudFunction,
        invoker: WorkloadIdentity,
        team: str | None = None,
    ) -> None:
        super().__init__(scope, id)
        body = {"pipeline": schedule.pipeline, "version": schedule.version, "parameters": schedule.parameters}
        body |= {"team": team} if team else {}
        CloudSchedulerJob(
            self,
            "job",
            name=name,
            region=region,
            description=f"{schedule.pipeline} pipeline ({schedule.version})" + (f" for team {team}" if team else ""),
            schedule=schedule.cron,
            lifecycle=TerraformResourceLifecycle(ignore_changes=["paused"]),
            time_zone=schedule.time_zone,
            attempt_deadline="320s",
            retry_config=CloudSchedulerJobRetryConfig(
                retry_count=3, min_backoff_duration="30s", max_backoff_duration="600s", max_doublings=3
            ),
            http_target=CloudSchedulerJobHttpTarget(
                http_method="POST",
                uri=trigger.url,
                headers={"Content-Type": "application/json"},
                body=base64.b64encode(json.dumps(body, sort_keys=True).encode()).decode(),
                oidc_token=CloudSchedulerJobHttpTargetOidcToken(
                    service_account_email=invoker.email, audience=trigger.url
                ),
            ),
        )
