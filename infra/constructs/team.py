"""A team's resources in one environment: identity, storage prefixes, registry access, schedules
and budget. Everything a team gets is declared here, from its `environments/teams/<team>.yaml`."""

from __future__ import annotations

from cdktn_provider_google.data_google_project import DataGoogleProject
from constructs import Construct

from environments.naming import ResourceNames
from environments.schema import Environment, Team
from infra.constructs.bucket import SecureBucket
from infra.constructs.budget import TeamBudget
from infra.constructs.function import CloudFunction
from infra.constructs.grants import Principal
from infra.constructs.identity import WorkloadIdentity
from infra.constructs.project import ProjectRoles
from infra.constructs.registry import ArtifactRepository
from infra.constructs.scheduler import ScheduledPipeline
from infra.deployed import schedule_job_id


class TeamResources(Construct):
    """In every environment: the team's runner identity with read/write on its own prefixes of the
    data, pipeline-root and models buckets (its registry space: never the platform's models), read
    access to both registries, pipelines and model uploads on Vertex AI without moving any alias
    (`ProjectRoles.grant_team_runner`), and its schedules (run by the trigger as the team's
    identity). Owners can run the team's pipelines where
    `owners_run_pipelines` (dev); elsewhere they only read the team's data, and only the delivery
    pipeline and the schedules act. A budget alert when the environment has a billing account."""

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        team: Team,
        environment: Environment,
        data: SecureBucket,
        pipeline_root: SecureBucket,
        models: SecureBucket,
        registries: list[ArtifactRepository],
        project_roles: ProjectRoles,
        trigger: CloudFunction,
        trigger_identity: WorkloadIdentity,
        scheduler_invoker: WorkloadIdentity,
        owners_run_pipelines: bool,
        notification_channels: list[str],
        project: DataGoogleProject | None,
    ) -> None:
        super().__init__(scope, id)
        self.identity = WorkloadIdentity(
            self,
            "runner",
            account_id=ResourceNames.team_account(team.name),
            description=f"Team {team.name}: runs its pipelines",
        )
        owners = [Principal.of(member) for member in team.owners]
        prefix = ResourceNames.team_prefix(team.name)
        for bucket in (data, pipeline_root, models):
            folder = bucket.managed_folder(f"team-{team.name}", prefix)
            folder.grant_read_write(self.identity)
            for owner in owners:
                (folder.grant_read_write if owners_run_pipelines else folder.grant_read)(owner)
        for registry in registries:
            registry.grant_read(self.identity)
        project_roles.grant_team_runner(self.identity)
        project_roles.grant_log_writer(self.identity)
        self.identity.grant_act_as(trigger_identity)
        if owners_run_pipelines:
            for owner in owners:
                self.identity.grant_act_as(owner)
                project_roles.grant_team_runner(owner)
        self.schedules = [
            ScheduledPipeline(
                self,
                f"schedule-{schedule.name}",
                name=schedule_job_id(environment.name, schedule.name, team.name),
                schedule=schedule,
                region=environment.region,
                trigger=trigger,
                invoker=scheduler_invoker,
                team=team.name,
            )
            for schedule in team.schedules
        ]
        if team.budget and environment.billing_account and project is not None:
            TeamBudget(
                self,
                "budget",
                team=team.name,
                budget=team.budget,
                billing_account=environment.billing_account,
                project_number=project.number,
                environment=environment.name,
                channels=notification_channels,
            )
