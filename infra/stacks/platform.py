"""The platform stack: everything one environment (`environments/<name>.yaml`) runs on."""

from __future__ import annotations

from dataclasses import dataclass

from cdktn import GcsBackend, TerraformStack
from cdktn_provider_google.data_google_project import DataGoogleProject
from cdktn_provider_google.data_google_storage_project_service_account import (
    DataGoogleStorageProjectServiceAccount,
)
from cdktn_provider_google.provider import GoogleProvider
from constructs import Construct

from environments.config import Environment, ResourceNames
from functions.archive import write_archive
from functions.settings import ENTRY_POINTS, environment_variables
from infra import INFRA_DIR
from infra.constructs.beta import GoogleBetaProvider, service_agent
from infra.constructs.bucket import SecureBucket
from infra.constructs.composer import Composer
from infra.constructs.encryption import EncryptionKey
from infra.constructs.function import CloudFunction
from infra.constructs.grants import Principal
from infra.constructs.identity import WorkloadIdentity
from infra.constructs.project import ProjectRoles, ProjectServices
from infra.constructs.registry import ArtifactRepository
from infra.constructs.scheduler import ScheduledPipeline
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
        project, region = environment.project_id, environment.region

        self.google = GoogleProvider(self, "google", project=project, region=region)
        self.google_beta = GoogleBetaProvider(self, "google-beta", google=self.google)
        GcsBackend(self, bucket=environment.state_bucket, prefix=f"platform/{environment.name}")

        apis = [*BASE_APIS]
        apis += CMEK_APIS if environment.encryption.cmek else ()
        apis += COMPOSER_APIS if environment.composer.enabled else ()
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
        PlatformPolicy.attach(self)

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
            project = DataGoogleProject(self, "project", project_id=environment.project_id)
            compute_agent = f"serviceAccount:service-{project.number}@compute-system.iam.gserviceaccount.com"
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
                environment_variables=environment_variables(name, environment, team_accounts={}),
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
