"""The platform stack: everything one environment (`environments/<name>.yaml`) runs on."""

from __future__ import annotations

from dataclasses import dataclass

from cdktn import GcsBackend, TerraformStack
from cdktn_provider_google.data_google_project import DataGoogleProject
from cdktn_provider_google.data_google_storage_project_service_account import (
    DataGoogleStorageProjectServiceAccount,
)
from cdktn_provider_google.monitoring_notification_channel import MonitoringNotificationChannel
from cdktn_provider_google.provider import GoogleProvider
from constructs import Construct

from environments.config import Environment, ResourceNames
from functions.archive import write_archive
from functions.settings import ENTRY_POINTS, environment_variables
from infra import INFRA_DIR
from infra.constructs.beta import GoogleBetaProvider, service_agent
from infra.constructs.bucket import ExistingBucket, SecureBucket
from infra.constructs.composer import Composer
from infra.constructs.delivery import DeliveryTriggers
from infra.constructs.encryption import EncryptionKey
from infra.constructs.function import CloudFunction
from infra.constructs.grants import Principal
from infra.constructs.identity import WorkloadIdentity
from infra.constructs.project import (
    DEPLOYER_ROLES,
    DEPLOYER_ROLES_WITH_BUDGETS,
    DEPLOYER_ROLES_WITH_CMEK,
    DEPLOYER_ROLES_WITH_COMPOSER,
    ProjectRoles,
    ProjectServices,
)
from infra.constructs.registry import ArtifactRepository
from infra.constructs.scheduler import ScheduledPipeline
from infra.constructs.team import TeamResources
from infra.constructs.vertex import MetadataStore
from infra.policy.rules import PlatformPolicy

BASE_APIS = (
    "aiplatform.googleapis.com",
    "artifactregistry.googleapis.com",
    "cloudbuild.googleapis.com",
    "cloudfunctions.googleapis.com",
    "cloudscheduler.googleapis.com",
    "iam.googleapis.com",
    "iamcredentials.googleapis.com",
    "logging.googleapis.com",
    "run.googleapis.com",
    "storage.googleapis.com",
)
CMEK_APIS = ("cloudkms.googleapis.com",)
BUDGET_APIS = ("billingbudgets.googleapis.com", "monitoring.googleapis.com")
COMPOSER_APIS = ("composer.googleapis.com",)


@dataclass(frozen=True)
class Buckets:
    access_logs: SecureBucket
    data: SecureBucket
    pipeline_root: SecureBucket
    models: SecureBucket
    function_sources: SecureBucket


@dataclass(frozen=True)
class Identities:
    runner: WorkloadIdentity
    trigger: WorkloadIdentity
    scheduler_invoker: WorkloadIdentity
    serving: WorkloadIdentity
    deployer: WorkloadIdentity


@dataclass(frozen=True)
class Functions:
    pipeline_trigger: CloudFunction
    predict: CloudFunction


@dataclass(frozen=True)
class Registries:
    containers: ArtifactRepository
    pipelines: ArtifactRepository


class PlatformStack(TerraformStack):
    """One environment's stack. The stack id is the environment name; its state lives in the
    environment's state bucket under `platform/<name>`."""

    def __init__(self, scope: Construct, environment: Environment) -> None:
        super().__init__(scope, environment.name)
        self.environment = environment
        self.names = environment.names
        self.labels = environment.resource_labels()
        self._service_agents: dict[str, Principal] = {}
        self._project: DataGoogleProject | None = None
        self._has_budgets = bool(environment.billing_account) and any(t.budget for t in environment.teams)
        project, region = environment.project_id, environment.region

        self.google = GoogleProvider(self, "google", project=project, region=region)
        self.google_beta = GoogleBetaProvider(self, "google-beta", google=self.google)
        GcsBackend(self, bucket=environment.state_bucket, prefix=f"platform/{environment.name}")

        apis = [*BASE_APIS]
        apis += CMEK_APIS if environment.encryption.cmek else ()
        apis += COMPOSER_APIS if environment.composer.enabled else ()
        apis += BUDGET_APIS if self._has_budgets else ()
        self.services = ProjectServices(self, "apis", project_id=project, apis=apis)
        self.project_roles = ProjectRoles(self, "project-roles", project_id=project)
        self.encryption_key = self._encryption_key() if environment.encryption.cmek else None
        self.buckets = self._buckets()
        self.registries = self._registries()
        self.identities = self._identities()
        self._grant_workload_access()
        self.metadata_store = MetadataStore(
            self,
            "metadata-store",
            provider=self.google_beta,
            project=project,
            region=region,
            encryption_key=self.encryption_key,
            depends_on=self.services.enabled,
        )
        self.composer = self._composer() if environment.composer.enabled else None
        self.functions = self._functions()
        self.schedules = [
            ScheduledPipeline(
                self,
                f"schedule-{schedule.name}",
                name=f"{environment.name}-{schedule.name}",
                schedule=schedule,
                region=region,
                trigger=self.functions.pipeline_trigger,
                invoker=self.identities.scheduler_invoker,
            )
            for schedule in environment.schedules
        ]
        self.teams = self._teams()
        self.delivery = (
            DeliveryTriggers(
                self,
                "delivery",
                delivery=environment.delivery,
                environment=environment.name,
                region=region,
                deployer=self.identities.deployer,
                components_image=self.names.components_image,
            )
            if environment.delivery
            else None
        )
        self._grant_deployer()  # last: it may grant only the project roles granted above
        PlatformPolicy.attach(self)

    def _project_data(self) -> DataGoogleProject:
        """The project as Google sees it (its number names service agents and scopes budgets)."""
        if self._project is None:
            self._project = DataGoogleProject(self, "project", project_id=self.environment.project_id)
        return self._project

    def _service_agent(self, api: str) -> Principal:
        """The service agent of `api`, declared once however many grants it receives."""
        if api not in self._service_agents:
            self._service_agents[api] = service_agent(
                self,
                f"{api.split('.')[0]}-agent",
                provider=self.google_beta,
                project=self.environment.project_id,
                api=api,
            )
        return self._service_agents[api]

    def _encryption_key(self) -> EncryptionKey:
        """The environment's key, usable by the service agents of every service that encrypts with it."""
        environment = self.environment
        key = EncryptionKey(
            self,
            "cmek",
            name=self.names.kms_key_ring,
            location=environment.region,
            rotation_days=environment.encryption.key_rotation_days,
            labels=self.labels,
        )
        storage_agent = DataGoogleStorageProjectServiceAccount(self, "storage-agent", project=environment.project_id)
        key.grant_encrypt_decrypt(Principal(member=storage_agent.member, grant_id="storage-agent"))
        for api in ("artifactregistry.googleapis.com", "aiplatform.googleapis.com"):
            key.grant_encrypt_decrypt(self._service_agent(api))
        if environment.composer.enabled:
            # Composer 3 encrypts its GKE nodes, Pub/Sub topics and disks with the same key.
            for api in ("composer.googleapis.com", "container.googleapis.com", "pubsub.googleapis.com"):
                key.grant_encrypt_decrypt(self._service_agent(api))
            compute_agent = (
                f"serviceAccount:service-{self._project_data().number}@compute-system.iam.gserviceaccount.com"
            )
            key.grant_encrypt_decrypt(Principal(member=compute_agent, grant_id="compute-agent"))
        return key

    def _buckets(self) -> Buckets:
        storage = self.environment.storage
        prod_like = self.environment.encryption.cmek

        def bucket(purpose: str, access_logs: SecureBucket | None, **options) -> SecureBucket:
            return SecureBucket(
                self,
                purpose,
                name=self.names.bucket(purpose),
                location=self.environment.region,
                labels=self.labels,
                access_logs=access_logs,
                noncurrent_version_retention_days=storage.noncurrent_version_retention_days,
                encryption_key=self.encryption_key,
                depends_on=self.services.enabled,
                **options,
            )

        logs = bucket("access-logs", None)
        return Buckets(
            access_logs=logs,
            data=bucket("data", logs, prevent_destroy=prod_like),
            pipeline_root=bucket("pipeline-root", logs, expire_after_days=storage.pipeline_root_retention_days),
            models=bucket("models", logs, prevent_destroy=prod_like),
            function_sources=bucket("function-sources", logs),
        )

    def _registries(self) -> Registries:
        def repository(repository_id: str, format: str, description: str) -> ArtifactRepository:
            return ArtifactRepository(
                self,
                repository_id,
                repository_id=repository_id,
                format=format,
                location=self.environment.region,
                description=description,
                labels=self.labels,
                encryption_key=self.encryption_key,
                depends_on=self.services.enabled,
            )

        return Registries(
            containers=repository(ResourceNames.CONTAINERS_REPOSITORY, "DOCKER", "Pipeline components images"),
            pipelines=repository(ResourceNames.PIPELINES_REPOSITORY, "KFP", "Compiled KFP pipeline templates"),
        )

    def _identities(self) -> Identities:
        def identity(account_id: str, description: str) -> WorkloadIdentity:
            return WorkloadIdentity(self, account_id, account_id=account_id, description=description)

        return Identities(
            runner=identity(ResourceNames.RUNNER, "Runs Vertex AI pipelines"),
            trigger=identity(ResourceNames.TRIGGER, "Pipeline trigger function: submits pipeline runs"),
            scheduler_invoker=identity(ResourceNames.SCHEDULER_INVOKER, "Cloud Scheduler: calls the trigger"),
            serving=identity(ResourceNames.SERVING, "Online prediction function"),
            deployer=identity(ResourceNames.DEPLOYER, "Cloud Build: tests, synthesizes and applies"),
        )

    def _grant_workload_access(self) -> None:
        """Who may do what, in one place. Resource-level grants everywhere the API allows."""
        buckets, registries, ids = self.buckets, self.registries, self.identities
        # Pipelines read training data, write artifacts and models, and pull the components image.
        buckets.data.grant_read(ids.runner)
        buckets.pipeline_root.grant_read_write(ids.runner)
        buckets.models.grant_read_write(ids.runner)
        registries.containers.grant_read(ids.runner)
        self.project_roles.grant_vertex_user(ids.runner)
        self.project_roles.grant_log_writer(ids.runner)
        # The trigger resolves templates and submits runs that execute as the runner, nothing more.
        registries.pipelines.grant_read(ids.trigger)
        buckets.pipeline_root.grant_inspect(ids.trigger)
        ids.runner.grant_act_as(ids.trigger)
        self.project_roles.grant_vertex_user(ids.trigger)
        # Serving reads models, and finds the champion in the Vertex Model Registry.
        buckets.models.grant_read(ids.serving)
        self.project_roles.grant_vertex_viewer(ids.serving)

    def _functions(self) -> Functions:
        """The trigger and predict functions. Only the scheduler invoker may call the trigger;
        predict's callers are listed in the environment file."""
        environment, settings = self.environment, self.environment.functions
        archives = INFRA_DIR.parent / "build" / "functions"
        team_accounts = {
            t.name: self.names.service_account_email(self.names.team_account(t.name)) for t in environment.teams
        }

        def function(name: str, identity: WorkloadIdentity, options, **extra) -> CloudFunction:
            return CloudFunction(
                self,
                f"function-{name.replace('_', '-')}",
                name=name.replace("_", "-"),
                region=environment.region,
                archive=write_archive(name, archives),
                sources=self.buckets.function_sources,
                entry_point=ENTRY_POINTS[name],
                identity=identity,
                environment_variables=environment_variables(name, environment, team_accounts=team_accounts),
                labels=self.labels,
                max_instances=options.max_instances,
                memory=options.memory,
                depends_on=self.services.enabled,
                **extra,
            )

        trigger = function("pipeline_trigger", self.identities.trigger, settings.pipeline_trigger)
        trigger.grant_invoke(self.identities.scheduler_invoker)
        predict = function("predict", self.identities.serving, settings.predict, ingress=settings.predict.ingress)
        for member in settings.predict.invokers:
            predict.grant_invoke(Principal.of(member))
        return Functions(pipeline_trigger=trigger, predict=predict)

    def _teams(self) -> list[TeamResources]:
        environment = self.environment
        channels = (
            [
                MonitoringNotificationChannel(
                    self,
                    f"notify-{index}",
                    display_name=f"{environment.name} budgets: {email}",
                    type="email",
                    labels={"email_address": email},
                    user_labels=self.labels,
                ).name
                for index, email in enumerate(environment.notifications.emails)
            ]
            if self._has_budgets
            else []
        )
        return [
            TeamResources(
                self,
                f"team-{team.name}",
                team=team,
                environment=environment,
                data=self.buckets.data,
                pipeline_root=self.buckets.pipeline_root,
                registries=[self.registries.containers, self.registries.pipelines],
                project_roles=self.project_roles,
                trigger=self.functions.pipeline_trigger,
                trigger_identity=self.identities.trigger,
                scheduler_invoker=self.identities.scheduler_invoker,
                owners_run_pipelines=environment.team_owners_run_pipelines,
                notification_channels=channels,
                project=self._project_data() if self._has_budgets else None,
            )
            for team in environment.teams
        ]

    def _grant_deployer(self) -> None:
        """Cloud Build's identity: what applying this stack needs, and nothing it could escalate with."""
        environment, deployer = self.environment, self.identities.deployer
        roles = DEPLOYER_ROLES | (DEPLOYER_ROLES_WITH_CMEK if environment.encryption.cmek else {})
        roles |= DEPLOYER_ROLES_WITH_COMPOSER if environment.composer.enabled else {}
        roles |= DEPLOYER_ROLES_WITH_BUDGETS if self._has_budgets else {}
        self.project_roles.grant_deployer(deployer, roles)
        # Deploying functions, schedules, Composer and triggers means acting as their identities.
        acting = [self.identities.trigger, self.identities.serving, self.identities.scheduler_invoker, deployer]
        acting += [self.composer.worker] if self.composer else []
        for identity in acting:
            identity.grant_act_as(deployer)
        ExistingBucket(self, "state-bucket", name=environment.state_bucket).grant_read_write(deployer)

    def _composer(self) -> Composer:
        environment = self.environment
        return Composer(
            self,
            "composer",
            name=f"mlops-{environment.name}",
            worker_account_id=ResourceNames.COMPOSER_WORKER,
            region=environment.region,
            size=environment.composer.size,
            image_version=environment.composer.image_version,
            labels=self.labels,
            project_roles=self.project_roles,
            composer_agent=self._service_agent("composer.googleapis.com"),
            encryption_key=self.encryption_key,
            depends_on=self.services.enabled,
        )
