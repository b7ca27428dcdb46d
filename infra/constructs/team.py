"""A team's resources in one environment: identity, storage prefixes, registry access, schedules
and budget. Everything a team gets is declared here, from its `environments/teams/<team>.yaml`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from constructs import Construct

from environments.naming import ResourceNames
from environments.schema import Budget, Schedule
from infra.constructs.bucket import SecureBucket
from infra.constructs.budget import Billing, TeamBudget
from infra.constructs.function import CloudFunction
from infra.constructs.grants import Principal
from infra.constructs.identity import WorkloadIdentity
from infra.constructs.project import ProjectRoles
from infra.constructs.registry import ArtifactRepository
from infra.constructs.scheduler import ScheduledPipeline
from infra.deployed import schedule_job_id


@dataclass(frozen=True)
class TeamProps:
    """One team in one environment: its team file, and the environment's facts that shape it."""

    name: str
    environment: str  # the environment's name: the team's schedule jobs and budget carry it
    region: str
    owners: Sequence[str]
    owners_run_pipelines: bool  # the environment's `team_owners_run_pipelines`
    schedules: Sequence[Schedule] = ()
    budget: Budget | None = None


class TeamResources(Construct):
    """In every environment: the team's runner identity with read/write on its own prefixes of the
    data, pipeline-root and models buckets (its registry space: never the platform's models), read
    access to both registries, pipelines and model uploads on Vertex AI without moving any alias
    (`ProjectRoles.grant_team_runner`), and, once the trigger exists (`add_schedules`), its
    schedules, run by the trigger as the team's identity. Owners can run the team's pipelines where
    `owners_run_pipelines` (dev); elsewhere they only read the team's data, and only the delivery
    pipeline and the schedules act. A budget alert when the team has a budget and `billing` is given
    (the environment has a billing account).

    The identity exists before the functions: the trigger is deployed with the team identities'
    emails, and the team's schedules call the trigger."""

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        props: TeamProps,
        data: SecureBucket,
        pipeline_root: SecureBucket,
        models: SecureBucket,
        registries: Sequence[ArtifactRepository],
        project_roles: ProjectRoles,
        trigger_identity: WorkloadIdentity,
        billing: Billing | None,
    ) -> None:
        super().__init__(scope, id)
        self.props = props
        self.identity = WorkloadIdentity(
            self,
            "runner",
            account_id=ResourceNames.team_account(props.name),
            description=f"Team {props.name}: runs its pipelines",
        )
        owners = Principal.each_of(props.owners)
        prefix = ResourceNames.team_prefix(props.name)
        for bucket in (data, pipeline_root, models):
            folder = bucket.managed_folder(f"team-{props.name}", prefix)
            folder.grant_read_write(self.identity)
            for owner in owners:
                (folder.grant_read_write if props.owners_run_pipelines else folder.grant_read)(owner)
        for registry in registries:
            registry.grant_read(self.identity)
        project_roles.grant_team_runner(self.identity)
        project_roles.grant_log_writer(self.identity)
        self.identity.grant_act_as(trigger_identity)
        if props.owners_run_pipelines:
            for owner in owners:
                self.identity.grant_act_as(owner)
                project_roles.grant_team_runner(owner)
        if props.budget and billing is not None:
            TeamBudget(
                self, "budget", team=props.name, budget=props.budget, environment=props.environment, billing=billing
            )

    def add_schedules(self, *, trigger: CloudFunction, invoker: WorkloadIdentity) -> list[ScheduledPipeline]:
        """The team's schedules: `invoker` calls `trigger`, which runs them as the team's identity."""
        props = self.props
        return [
            ScheduledPipeline(
                self,
                f"schedule-{schedule.name}",
                name=schedule_job_id(props.environment, schedule.name, props.name),
                schedule=schedule,
                region=props.region,
                trigger=trigger,
                invoker=invoker,
                team=props.name,
            )
            for schedule in props.schedules
        ]
