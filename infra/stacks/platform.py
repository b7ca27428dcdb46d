"""The platform stack: everything one environment (`environments/<name>.yaml`) runs on.

Each part of the stack is built on first use (a cached property), and values that depend on other
parts resolve when the stack synthesizes (`infra/google_rules.py`, `infra/constructs/lazy.py`), so
the order in which the parts are built never changes the output: `PlatformStack(..., order=...)`
builds them in another order, and a test compares.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from cdktn import GcsBackend, TerraformStack
from cdktn_provider_google.data_google_project import DataGoogleProject
from cdktn_provider_google.data_google_storage_project_service_account import (
    DataGoogleStorageProjectServiceAccount,
)
from cdktn_provider_google.provider import GoogleProvider
from constructs import Construct

from environments.naming import ResourceNames
from environments.schema import Environment
from functions.settings import ENTRY_POINTS, deployed_settings
from infra import google_rules
from infra.constructs.beta import GoogleBetaProvider, service_agent
from infra.constructs.bucket import ExistingBucket, SecureBucket
from infra.constructs.budget import Billing, PlatformBudget
from infra.constructs.composer import Composer, cycle_packages
from infra.constructs.cycle import BIGQUERY_API, DailyCycle
from infra.constructs.dashboard import DashboardService
from infra.constructs.delivery import DeliveryTriggers
from infra.constructs.encryption import EncryptionKey
from infra.constructs.function import CloudFunction
from infra.constructs.grants import Principal
from infra.constructs.identity import WorkloadIdentity
from infra.constructs.monitoring import PlatformAlerts, Watched, email_channels
from infra.constructs.project import DeployerRoles, ProjectRoles, ProjectServices
from infra.constructs.registry import ArtifactRepository
from infra.constructs.scheduler import ScheduledPipeline
from infra.constructs.team import TeamProps, TeamResources
from infra.constructs.vertex import MetadataStore
from infra.deployed import composer_environment_id, function_id, schedule_job_id
from infra.policy.rules import PlatformPolicy
from pipelines.logic.cycle_store import store_root
from pipelines.logic.model_names import default_registry_uri
from pipelines.ops.cli import components_image

# APIs the workloads call at run time, beyond those the stack's resources need (google_rules.API_OF):
# pipelines run on Vertex AI and log; operators and schedulers mint identity tokens.
RUNTIME_APIS = (
    "aiplatform.googleapis.com",
    "iamcredentials.googleapis.com",
    "logging.googleapis.com",
    "storage.googleapis.com",
)
# The stack's own resources: service accounts and project IAM, buckets, registries, functions,
# schedules, builds and alerts (google_rules.API_OF names which resource calls which).
BASE_APIS = (
    *google_rules.BOOTSTRAP_APIS,
    "artifactregistry.googleapis.com",
    "cloudbuild.googleapis.com",
    "cloudfunctions.googleapis.com",
    "cloudscheduler.googleapis.com",
    "iam.googleapis.com",
    "monitoring.googleapis.com",
    "run.googleapis.com",
)
CMEK_APIS = ("cloudkms.googleapis.com",)
BUDGET_APIS = ("billingbudgets.googleapis.com",)
COMPOSER_APIS = ("composer.googleapis.com",)
# The parts of the stack, in the order they are built by default.
PARTS = (
    "services",
    "encryption_key",
    "buckets",
    "registries",
    "identities",
    "workload_access",
    "metadata_store",
    "composer",
    "teams",
    "functions",
    "dashboard",
    "schedules",
    "cycle",
    "delivery",
    "alerts",
    "budget",
    "deployer_access",
)


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
    function_builder: WorkloadIdentity
    deployer: WorkloadIdentity


@dataclass(frozen=True)
class DeliveryIdentities:
    """One identity per delivery job (the deployer, which applies, is in `Identities`)."""

    checks: WorkloadIdentity
    publisher: WorkloadIdentity


@dataclass(frozen=True)
class Functions:
    pipeline_trigger: CloudFunction
    predict: CloudFunction


@dataclass(frozen=True)
class Registries:
    containers: ArtifactRepository
    pipelines: ArtifactRepository
    functions: ArtifactRepository


class PlatformStack(TerraformStack):
    """One environment's stack. The stack id is the environment name; its state lives in the
    environment's state bucket under `platform/<name>`. `archives` are the functions' source
    archives by function (`infra.deployed.function_archives`)."""

    def __init__(
        self,
        scope: Construct,
        environment: Environment,
        *,
        archives: Mapping[str, Path],
        order: Sequence[str] = PARTS,
    ) -> None:
        super().__init__(scope, environment.name)
        if sorted(order) != sorted(PARTS):
            raise ValueError(f"order must name every part once: {', '.join(PARTS)}")
        self.environment = environment
        self.archives = archives
        self.names = environment.names
        self.labels = environment.resource_labels()
        self._service_agents: dict[str, Principal] = {}
        project, region = environment.project_id, environment.region

        self.google = GoogleProvider(self, "google", project=project, region=region)
        self.google_beta = GoogleBetaProvider(self, "google-beta", google=self.google)
        GcsBackend(self, bucket=environment.state_bucket, prefix=f"platform/{environment.name}")
        self.project_roles = ProjectRoles(self, "project-roles", project_id=project)
        self.project_roles.allow_team_runner()
        for part in order:
            getattr(self, part)
        PlatformPolicy.attach(self)

    @cached_property
    def services(self) -> ProjectServices:
        environment = self.environment
        apis = [*RUNTIME_APIS, *BASE_APIS]
        apis += CMEK_APIS if environment.encryption.cmek else ()
        apis += COMPOSER_APIS if environment.composer.enabled else ()
        apis += BUDGET_APIS if environment.billing_account else ()
        apis += (BIGQUERY_API,) if environment.cycle.enabled and environment.cycle.bigquery_table else ()
        return ProjectServices(self, "apis", project_id=environment.project_id, apis=apis)

    @cached_property
    def project(self) -> DataGoogleProject:
        """The project as Google sees it (its number names service agents and scopes budgets)."""
        return DataGoogleProject(self, "project", project_id=self.environment.project_id)

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

    @cached_property
    def encryption_key(self) -> EncryptionKey | None:
        """The environment's key, usable by the service agents of exactly the services that encrypt
        with it: Cloud Storage, Artifact Registry, Vertex AI and, with Composer 3, Composer (whose
        cluster runs in Google's tenant project: its GKE, Pub/Sub and Compute agents are not ours;
        cloud.google.com/composer/docs/composer-3/configure-cmek-encryption)."""
        environment = self.environment
        if not environment.encryption.cmek:
            return None
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
        agents = ["artifactregistry.googleapis.com", "aiplatform.googleapis.com"]
        agents += ["composer.googleapis.com"] if environment.composer.enabled else []
        for api in agents:
            key.grant_encrypt_decrypt(self._service_agent(api))
        return key

    @cached_property
    def buckets(self) -> Buckets:
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

    @cached_property
    def registries(self) -> Registries:
        def repository(repository_id: str, format: str, description: str, **options) -> ArtifactRepository:
            return ArtifactRepository(
                self,
                repository_id,
                repository_id=repository_id,
                format=format,
                location=self.environment.region,
                description=description,
                labels=self.labels,
                encryption_key=self.encryption_key,
                **options,
            )

        return Registries(
            containers=repository(ResourceNames.CONTAINERS_REPOSITORY, "DOCKER", "Pipeline components images"),
            pipelines=repository(ResourceNames.PIPELINES_REPOSITORY, "KFP", "Compiled KFP pipeline templates"),
            # Not CMEK-encrypted: that would need the functions themselves encrypted with the key and
            # five more service agents on it (cloud.google.com/functions/docs/securing/cmek).
            functions=ArtifactRepository(
                self,
                ResourceNames.FUNCTIONS_REPOSITORY,
                repository_id=ResourceNames.FUNCTIONS_REPOSITORY,
                format="DOCKER",
                location=self.environment.region,
                description="Cloud Functions build images",
                labels=self.labels,
                mutable_tags=True,
            ),
        )

    @cached_property
    def identities(self) -> Identities:
        def identity(account_id: str, description: str) -> WorkloadIdentity:
            return WorkloadIdentity(self, account_id, account_id=account_id, description=description)

        return Identities(
            runner=identity(ResourceNames.RUNNER, "Runs Vertex AI pipelines"),
            trigger=identity(ResourceNames.TRIGGER, "Pipeline trigger function: submits pipeline runs"),
            scheduler_invoker=identity(ResourceNames.SCHEDULER_INVOKER, "Cloud Scheduler: calls the trigger"),
            serving=identity(ResourceNames.SERVING, "Online prediction function"),
            function_builder=identity(ResourceNames.FUNCTION_BUILDER, "Cloud Build: builds the functions"),
            deployer=identity(ResourceNames.DEPLOYER, "Cloud Build: applies the stack"),
        )

    @cached_property
    def delivery_identities(self) -> DeliveryIdentities:
        def identity(account_id: str, description: str) -> WorkloadIdentity:
            return WorkloadIdentity(self, account_id, account_id=account_id, description=description)

        return DeliveryIdentities(
            checks=identity(ResourceNames.CHECKS, "Cloud Build: pull-request checks, offline"),
            publisher=identity(ResourceNames.PUBLISHER, "Cloud Build: pushes the components image and templates"),
        )

    @cached_property
    def workload_access(self) -> None:
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
        # Function builds read their source, push their image and write build logs
        # (cloud.google.com/functions/docs/securing/build-custom-sa).
        buckets.function_sources.grant_read(ids.function_builder)
        registries.functions.grant_write(ids.function_builder)
        self.project_roles.grant_log_writer(ids.function_builder)
        # The dashboard reads the platform's registry (Vertex AI, artifacts in the models bucket) and runs.
        if self.dashboard_identity:
            buckets.models.grant_read(self.dashboard_identity)
            buckets.pipeline_root.grant_read(self.dashboard_identity)
            if self.environment.cycle.enabled:  # the daily cycle's stored forecasts and scores
                buckets.data.grant_read(self.dashboard_identity)
            self.project_roles.grant_vertex_viewer(self.dashboard_identity)
        # Composer's worker runs the daily cycle's tasks (pipelines/logic/cycle.py): it reads the drop
        # folder and keeps observations, forecasts, scores and checks under the data bucket's `cycle/`;
        # it retrains in the task itself (cycle_models.retrain, no pipeline run, so never as the
        # runner), uploading artifacts to the models bucket and the version to the Vertex AI Model
        # Registry, and moves the champion alias through the gate (Vertex AI has no per-model IAM).
        if self.composer and self.environment.cycle.enabled:
            buckets.data.grant_read_write(self.composer.worker)
            buckets.models.grant_read_write(self.composer.worker)
            self.project_roles.grant_vertex_user(self.composer.worker)

    @cached_property
    def metadata_store(self) -> MetadataStore | None:
        if self.encryption_key is None:
            return None
        return MetadataStore(
            self,
            "metadata-store",
            provider=self.google_beta,
            project=self.environment.project_id,
            region=self.environment.region,
            encryption_key=self.encryption_key,
        )

    @cached_property
    def functions(self) -> Functions:
        """The trigger and predict functions. Only the scheduler invoker may call the trigger;
        predict's callers are listed in the environment file."""
        environment, settings = self.environment, self.environment.functions
        # The trigger runs a team's pipelines as the team's identity: its email, from the identity itself.
        team_accounts = {team.props.name: team.identity.email for team in self.teams}

        def function(name: str, identity: WorkloadIdentity, options, **extra) -> CloudFunction:
            return CloudFunction(
                self,
                f"function-{name.replace('_', '-')}",
                name=function_id(name),
                region=environment.region,
                archive=self.archives[name],
                sources=self.buckets.function_sources,
                entry_point=ENTRY_POINTS[name],
                identity=identity,
                builder=self.identities.function_builder,
                images=self.registries.functions,
                environment_variables=deployed_settings(name, environment, team_accounts).to_env(),
                labels=self.labels,
                max_instances=options.max_instances,
                memory=options.memory,
                **extra,
            )

        # Cloud Scheduler in the same project counts as internal traffic
        # (cloud.google.com/functions/1stgendocs/networking/network-settings#ingress_settings).
        trigger = function("pipeline_trigger", self.identities.trigger, settings.pipeline_trigger, ingress="internal")
        trigger.grant_invoke(self.identities.scheduler_invoker)
        predict = function("predict", self.identities.serving, settings.predict, ingress=settings.predict.ingress)
        for invoker in Principal.each_of(settings.predict.invokers):
            predict.grant_invoke(invoker)
        return Functions(pipeline_trigger=trigger, predict=predict)

    @cached_property
    def dashboard_identity(self) -> WorkloadIdentity | None:
        if not self.environment.dashboard:
            return None
        return WorkloadIdentity(
            self, ResourceNames.DASHBOARD, account_id=ResourceNames.DASHBOARD, description="The dashboard: reads only"
        )

    @cached_property
    def dashboard(self) -> DashboardService | None:
        """With `dashboard` in the environment file: the dashboard on the components image of the
        commit being deployed (`make publish-pipelines` pushes it), opened by its viewers only. It
        shows the platform's runs (Vertex AI keeps them under `<pipeline root>/<project number>/`)
        and, with the daily cycle on, the cycle's stored forecasts and scores."""
        environment = self.environment
        if not environment.dashboard:
            return None
        registry_uri = default_registry_uri(environment.project_id, environment.region)
        dashboard = DashboardService(
            self,
            "dashboard",
            region=environment.region,
            image=components_image(environment),
            identity=self.dashboard_identity,
            registry_uri=registry_uri,
            runs_root=f"{self.names.pipeline_root}/{self.project.number}",
            cycle_root=store_root(registry_uri) if environment.cycle.enabled else None,
            labels=self.labels,
            images=self.registries.containers,
            run_agent=self._service_agent("run.googleapis.com"),
            encryption_key=self.encryption_key,
        )
        for viewer in Principal.each_of(environment.dashboard.viewers):
            dashboard.grant_view(viewer)
        return dashboard

    @cached_property
    def schedules(self) -> list[ScheduledPipeline]:
        """The environment's schedules, then each team's (in the team's construct)."""
        environment = self.environment
        trigger, invoker = self.functions.pipeline_trigger, self.identities.scheduler_invoker
        platform = [
            ScheduledPipeline(
                self,
                f"schedule-{schedule.name}",
                name=schedule_job_id(environment.name, schedule.name),
                schedule=schedule,
                region=environment.region,
                trigger=trigger,
                invoker=invoker,
            )
            for schedule in environment.schedules
        ]
        return platform + [job for team in self.teams for job in team.add_schedules(trigger=trigger, invoker=invoker)]

    @cached_property
    def cycle(self) -> DailyCycle:
        return DailyCycle(
            self,
            "cycle",
            environment=self.environment,
            trigger=self.functions.pipeline_trigger,
            invoker=self.identities.scheduler_invoker,
            labels=self.labels,
            encryption_key=self.encryption_key,
        )

    @cached_property
    def composer(self) -> Composer | None:
        environment = self.environment
        if not environment.composer.enabled:
            return None
        # The environment's bucket is one of the platform's, so the deploy build writes DAGs into it
        # alone (infra/constructs/composer.py).
        bucket = SecureBucket(
            self,
            "composer-bucket",
            name=self.names.bucket("composer"),
            location=environment.region,
            labels=self.labels,
            access_logs=self.buckets.access_logs,
            noncurrent_version_retention_days=environment.storage.noncurrent_version_retention_days,
            encryption_key=self.encryption_key,
        )
        composer = Composer(
            self,
            "composer",
            name=composer_environment_id(environment.name),
            worker_account_id=ResourceNames.COMPOSER_WORKER,
            project_id=environment.project_id,
            region=environment.region,
            size=environment.composer.size,
            image_version=environment.composer.image_version,
            labels=self.labels,
            project_roles=self.project_roles,
            composer_agent=self._service_agent("composer.googleapis.com"),
            bucket=bucket,
            pypi_packages=cycle_packages() if environment.cycle.enabled else {},
            encryption_key=self.encryption_key,
        )
        return composer

    @cached_property
    def billing(self) -> Billing | None:
        """With a billing account: where the platform's and the teams' budgets live."""
        environment = self.environment
        if not environment.billing_account:
            return None
        return Billing(
            account=environment.billing_account,
            project_number=self.project.number,
            channels=self.notification_channels,
        )

    @cached_property
    def notification_channels(self) -> list[str]:
        """The email channels of `notifications.emails`, shared by the alerts and the budgets."""
        environment = self.environment
        channels = email_channels(
            self, environment=environment.name, emails=environment.notifications.emails, labels=self.labels
        )
        return [channel.name for channel in channels]

    @cached_property
    def alerts(self) -> PlatformAlerts:
        environment = self.environment
        functions = self.functions
        return PlatformAlerts(
            self,
            "alerts",
            environment=environment.name,
            project_id=environment.project_id,
            watched=Watched(
                pipeline_trigger=functions.pipeline_trigger.name,
                predict=functions.predict.name,
                schedules=bool(environment.schedules) or any(team.schedules for team in environment.teams),
                release_triggers=self.delivery.release_triggers if self.delivery else [],
            ),
            channels=self.notification_channels,
            labels=self.labels,
        )

    @cached_property
    def budget(self) -> PlatformBudget | None:
        """With a billing account: the whole project's budget, beside the teams' own."""
        if self.billing is None:
            return None
        return PlatformBudget(self, "platform-budget", environment=self.environment.name, billing=self.billing)

    @cached_property
    def teams(self) -> list[TeamResources]:
        """Each team's identity and access; its schedules follow the trigger (`schedules`)."""
        environment = self.environment
        return [
            TeamResources(
                self,
                f"team-{team.name}",
                props=TeamProps(
                    name=team.name,
                    environment=environment.name,
                    region=environment.region,
                    owners=team.owners,
                    owners_run_pipelines=environment.team_owners_run_pipelines,
                    schedules=team.schedules,
                    budget=team.budget,
                ),
                data=self.buckets.data,
                pipeline_root=self.buckets.pipeline_root,
                models=self.buckets.models,
                registries=[self.registries.containers, self.registries.pipelines],
                project_roles=self.project_roles,
                trigger_identity=self.identities.trigger,
                billing=self.billing,
            )
            for team in environment.teams
        ]

    @cached_property
    def delivery(self) -> DeliveryTriggers | None:
        environment = self.environment
        if not environment.delivery:
            return None
        ids, delivery_ids = self.identities, self.delivery_identities
        # Pull-request checks run offline: writing their build logs is all they may do.
        self.project_roles.grant_log_writer(delivery_ids.checks)
        # Publishing pushes the components image and the templates, nothing else.
        self.registries.containers.grant_write(delivery_ids.publisher)
        self.registries.pipelines.grant_write(delivery_ids.publisher)
        self.project_roles.grant_log_writer(delivery_ids.publisher)
        planner = environment.delivery.plan_service_account
        if planner:  # a read-only identity made outside the stack: pull requests also show the real plan
            self.state_bucket.grant_read(Principal.of(f"serviceAccount:{planner}"))
            self.project_roles.grant_log_writer(Principal.of(f"serviceAccount:{planner}"))
        return DeliveryTriggers(
            self,
            "delivery",
            delivery=environment.delivery,
            environment=environment.name,
            region=environment.region,
            deployer=ids.deployer,
            checks=delivery_ids.checks,
            publisher=delivery_ids.publisher,
            components_image=self.names.components_image,
            planner=f"projects/{environment.project_id}/serviceAccounts/{planner}" if planner else None,
        )

    @cached_property
    def state_bucket(self) -> ExistingBucket:
        return ExistingBucket(self, "state-bucket", name=self.environment.state_bucket)

    @cached_property
    def deployer_access(self) -> DeployerRoles:
        """The apply job's identity: what applying this stack needs, and nothing it uses to read
        data; what it could still widen, and why, is listed in the README."""
        environment, ids = self.environment, self.identities
        deployer = ids.deployer
        roles = DeployerRoles(
            self,
            "deployer",
            project_id=environment.project_id,
            bucket_prefix=self.names.bucket(""),
            project_roles=self.project_roles,
            cmek=environment.encryption.cmek,
            composer=environment.composer.enabled,
            cycle_table=environment.cycle.enabled and environment.cycle.bigquery_table,
        )
        roles.grant(deployer)
        # Deploying functions, schedules, Composer and triggers means acting as their identities.
        acting = [ids.trigger, ids.serving, ids.scheduler_invoker, ids.function_builder, deployer]
        if self.composer:
            acting.append(self.composer.worker)
            self.composer.grant_dag_upload(deployer)  # make deploy-dags, after apply (cloudbuild/deploy.yaml)
        if self.dashboard_identity:
            acting.append(self.dashboard_identity)
            # The deploy build waits until the image the dashboard runs is published (cloudbuild/deploy.yaml).
            self.registries.containers.grant_read(deployer)
        acting += [self.delivery_identities.checks, self.delivery_identities.publisher] if self.delivery else []
        for identity in acting:
            identity.grant_act_as(deployer)
        self.state_bucket.grant_read_write(deployer)
        # Terraform uploads the function sources and reads them back; no other objects.
        self.buckets.function_sources.grant_object_admin(deployer)
        return roles
