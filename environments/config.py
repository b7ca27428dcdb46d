"""The one configuration model of the platform: `environments/<name>.yaml`.

Infra, pipelines, functions and tests all read environments through `load_environment`; nothing
else parses these files. The model is strict: unknown keys, wrong types and bad values are errors,
reported as `ConfigError` with one line per problem that names the file, the key path, the bad
value and what was expected, e.g.

    environments/dev.yaml: composer.size: 'huge' is not one of small, medium, large

The environment's name is its file name (`ENV=dev` means `environments/dev.yaml`), never a key.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
)

M = TypeVar("M", bound=BaseModel)

REPO_ROOT = Path(__file__).resolve().parent.parent
# Tests and forks may point the platform at another folder of environment files.
ENVIRONMENTS_DIR_VARIABLE = "PLATFORM_ENVIRONMENTS_DIR"

# Google Cloud regions (cloud.google.com/about/locations), the places a platform can run in.
GCP_REGIONS = frozenset(
    {
        "africa-south1",
        "asia-east1",
        "asia-east2",
        "asia-northeast1",
        "asia-northeast2",
        "asia-northeast3",
        "asia-south1",
        "asia-south2",
        "asia-southeast1",
        "asia-southeast2",
        "asia-southeast3",
        "australia-southeast1",
        "australia-southeast2",
        "europe-central2",
        "europe-north1",
        "europe-north2",
        "europe-southwest1",
        "europe-west1",
        "europe-west2",
        "europe-west3",
        "europe-west4",
        "europe-west6",
        "europe-west8",
        "europe-west9",
        "europe-west10",
        "europe-west12",
        "me-central1",
        "me-central2",
        "me-west1",
        "northamerica-northeast1",
        "northamerica-northeast2",
        "northamerica-south1",
        "southamerica-east1",
        "southamerica-west1",
        "us-central1",
        "us-east1",
        "us-east4",
        "us-east5",
        "us-south1",
        "us-west1",
        "us-west2",
        "us-west3",
        "us-west4",
    }
)

MANAGED_BY = "mlops-platform"
# Labels the platform sets itself on every resource; environment files may not override them.
PLATFORM_LABEL_KEYS = frozenset({"env", "managed-by", "team"})

_PROJECT_ID = re.compile(r"[a-z][a-z0-9-]{4,28}[a-z0-9]")
_LABEL_KEY = re.compile(r"[a-z][a-z0-9_-]{0,62}")
_LABEL_VALUE = re.compile(r"[a-z0-9_-]{0,63}")
_BUCKET_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[a-z]{2,}")
_SCHEDULE_NAME = re.compile(r"[a-z][a-z0-9-]{0,49}")
_CRON_FIELD = re.compile(r"[\d*/,\-A-Za-z]+")
TAG = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_MEMBER = re.compile(r"(user|group|serviceAccount|domain):[^\s:]+")

# The pipelines the platform ships (pipelines/definitions.py builds them; schedules name them).
PIPELINES = ("training", "prediction", "monitoring")


class ConfigError(Exception):
    """A configuration file is unreadable or invalid; `problems` holds one line per problem."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))


def _check(pattern: re.Pattern[str], expected: str):
    def validate(value: str) -> str:
        if not pattern.fullmatch(value):  # match() with $ would accept a trailing newline
            raise ValueError(f"expected {expected}")
        return value

    return AfterValidator(validate)


def _check_project_id(value: str) -> str:
    if not _PROJECT_ID.fullmatch(value) or "google" in value:
        raise ValueError(
            "expected a Google Cloud project id: 6 to 30 lowercase letters, digits and hyphens, "
            "starting with a letter, not ending with a hyphen, not containing 'google'"
        )
    return value


def _check_region(value: str) -> str:
    if value not in GCP_REGIONS:
        raise ValueError("expected a Google Cloud region such as europe-west1 or us-central1")
    return value


def _check_labels(value: dict[str, str]) -> dict[str, str]:
    reserved = sorted(PLATFORM_LABEL_KEYS & value.keys())
    if reserved:
        raise ValueError(f"expected none of the keys the platform sets itself ({', '.join(reserved)})")
    return value


def _check_time_zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError("expected an IANA time zone such as Europe/London or Etc/UTC") from None
    return value


def _check_cron(value: str) -> str:
    fields = value.split()
    if len(fields) != 5 or not all(_CRON_FIELD.fullmatch(f) for f in fields):
        raise ValueError("expected a unix-cron expression of five fields, such as '0 3 * * *'")
    return value


ProjectId = Annotated[str, AfterValidator(_check_project_id)]
Region = Annotated[str, AfterValidator(_check_region)]
LabelKey = Annotated[str, _check(_LABEL_KEY, "a label key: lowercase letters, digits, _ or -, starting with a letter")]
LabelValue = Annotated[str, _check(_LABEL_VALUE, "a label value: up to 63 lowercase letters, digits, _ or -")]
BucketName = Annotated[str, _check(_BUCKET_NAME, "a bucket name: 3 to 63 lowercase letters, digits, '.', '_' or '-'")]
Email = Annotated[str, _check(_EMAIL, "an email address")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class Encryption(_Strict):
    """Customer-managed encryption keys (CMEK) for buckets, registries, Composer and Vertex AI."""

    cmek: bool = Field(False, description="true or false")
    key_rotation_days: int = Field(90, ge=1, le=90, description="days between key rotations, 1 to 90")


class Composer(_Strict):
    """Cloud Composer 3. Off unless enabled: a small environment costs hundreds of dollars a month idle."""

    enabled: bool = Field(False, description="true or false")
    size: Literal["small", "medium", "large"] = "small"
    image_version: Annotated[
        str,
        _check(
            re.compile(r"composer-3-airflow-[\d.]+(-build\.\d+)?"),
            "a Composer 3 image such as composer-3-airflow-2.10.5",
        ),
    ] = "composer-3-airflow-2.10.5"


class Storage(_Strict):
    """Bucket settings shared by the platform's buckets."""

    pipeline_root_retention_days: int = Field(
        30, ge=1, le=3650, description="days before pipeline-root objects expire, 1 to 3650"
    )
    noncurrent_version_retention_days: int = Field(
        30, ge=1, le=3650, description="days a replaced object version is kept, 1 to 3650"
    )


class Notifications(_Strict):
    emails: list[Email] = Field(default_factory=list)


class Schedule(_Strict):
    """A Cloud Scheduler job that starts a pipeline through the trigger function."""

    name: Annotated[str, _check(_SCHEDULE_NAME, "lowercase letters, digits and hyphens, starting with a letter")]
    cron: Annotated[str, AfterValidator(_check_cron)]
    time_zone: Annotated[str, AfterValidator(_check_time_zone)] = "Etc/UTC"
    pipeline: Literal[PIPELINES]
    version: Annotated[str, _check(TAG, "a template tag such as latest or v1.2.0")] = "latest"
    parameters: dict[str, Any] = Field(default_factory=dict)


class FunctionSettings(_Strict):
    """Scaling of one Cloud Function (gen2). Instances scale to zero when idle."""

    max_instances: int = Field(3, ge=1, le=100, description="an instance cap, 1 to 100")
    memory: Literal["256M", "512M", "1G", "2G", "4G"] = "1G"


class PredictSettings(FunctionSettings):
    """The online prediction function: always authenticated (an identity token of a listed
    invoker), reachable from anywhere by default. `internal` admits only callers on the project's
    VPC networks, which this platform does not create; `internal-and-load-balancer` needs a load
    balancer of your own."""

    ingress: Literal["internal", "internal-and-load-balancer", "all"] = "all"
    invokers: list[Annotated[str, _check(_MEMBER, "an IAM member such as group:ml@acme.com")]] = Field(
        min_length=1,
        description="at least one IAM member who may call predict, e.g. [group:forecast-users@acme.com]; "
        "with none, nothing could call it",
    )


class Functions(_Strict):
    pipeline_trigger: FunctionSettings = Field(default_factory=FunctionSettings)
    predict: PredictSettings = Field(description="predict's settings, at least its invokers")


class Delivery(_Strict):
    """GitOps: the Cloud Build triggers this environment's stack defines."""

    repository: Annotated[
        str,
        _check(
            re.compile(
                r"projects/[a-z][a-z0-9-]{4,28}[a-z0-9]/locations/[a-z0-9-]+/connections/[\w-]+/repositories/[\w.-]+"
            ),
            "a Cloud Build 2nd-gen repository: projects/<p>/locations/<region>/connections/<c>/repositories/<r>",
        ),
    ] = Field(description="the Cloud Build 2nd-gen repository resource the triggers watch")
    repository_type: Literal["GITHUB", "GITLAB", "BITBUCKET_SERVER"] = "GITHUB"
    deploy_on: Literal["branch", "tag"] = Field(description="branch (pushes) or tag (releases)")
    pattern: str = Field(description="the branch or tag regular expression, e.g. ^main$ or ^v.*$")
    approval_required: bool = False
    pull_request_checks: bool = False
    pull_request_branch: str = "^main$"
    plan_service_account: Email | None = Field(
        None,
        description="a read-only identity made outside the stack (project viewer); pull requests then also "
        "show the plan against this environment's real state",
    )


class Budget(_Strict):
    monthly_amount: float = Field(gt=0, description="a positive amount per month")
    currency: Annotated[str, _check(re.compile(r"[A-Z]{3}"), "an ISO 4217 currency code such as USD")] = "USD"


TeamName = Annotated[
    str,
    _check(
        re.compile(r"[a-z](?:[a-z0-9-]{0,23}[a-z0-9])?"),
        "lowercase letters, digits and hyphens, starting with a letter, at most 25 characters "
        "(the team's service account is team-<name>)",
    ),
]
Member = Annotated[str, _check(_MEMBER, "an IAM member such as group:ml@acme.com or user:ana@acme.com")]


class Team(_Strict):
    """A team: `environments/teams/<name>.yaml`."""

    name: TeamName
    owners: list[Member] = Field(min_length=1, description="IAM members who own the team's resources")
    environments: list[str] = Field(min_length=1, description="the environments the team is enabled in")
    schedules: list[Schedule] = Field(default_factory=list)
    budget: Budget | None = None


class Environment(_Strict):
    """One deployment environment (dev, prod, ...): a Google Cloud project and its settings."""

    project_id: ProjectId = Field(description="a Google Cloud project id")
    region: Region = Field(description="a Google Cloud region")
    state_bucket: BucketName = Field(description="the bucket holding this environment's Terraform state")
    labels: Annotated[dict[LabelKey, LabelValue], AfterValidator(_check_labels)] = Field(default_factory=dict)
    encryption: Encryption = Field(default_factory=Encryption)
    composer: Composer = Field(default_factory=Composer)
    storage: Storage = Field(default_factory=Storage)
    notifications: Notifications = Field(default_factory=Notifications)
    functions: Functions = Field(description="the functions' settings, at least functions.predict.invokers")
    schedules: list[Schedule] = Field(default_factory=list)
    delivery: Delivery | None = None
    team_owners_run_pipelines: bool = Field(False, description="true where team owners may run pipelines (dev)")
    billing_account: (
        Annotated[
            str,
            _check(
                re.compile(r"[0-9A-F]{6}-[0-9A-F]{6}-[0-9A-F]{6}"), "a billing account id like 01AB23-45CD67-89EF01"
            ),
        ]
        | None
    ) = Field(None, description="enables team budgets")

    _name: str = PrivateAttr(default="")
    _teams: list[Team] = PrivateAttr(default_factory=list)

    @property
    def name(self) -> str:
        return self._name

    @property
    def teams(self) -> list[Team]:
        """The teams enabled in this environment (from environments/teams/)."""
        return self._teams

    def resource_labels(self, team: str | None = None) -> dict[str, str]:
        """The labels every labelled resource and job carries: the environment's, then the platform's."""
        labels = {**self.labels, "env": self.name, "managed-by": MANAGED_BY}
        return labels | {"team": team} if team else labels

    @property
    def names(self) -> ResourceNames:
        return ResourceNames(environment=self.name, project_id=self.project_id, region=self.region)


def bucket_name(project_id: str, purpose: str) -> str:
    """Bucket names are global: they carry the project id, e.g. `acme-ml-dev-data`."""
    return f"{project_id}-{purpose}"


@dataclass(frozen=True)
class ResourceNames:
    """The names of the platform's resources in one environment: the stacks create them under
    these names, and pipelines, functions and make targets find them by the same names."""

    environment: str
    project_id: str
    region: str

    # One service account per workload (account ids: 6 to 30 characters).
    RUNNER = "pipelines-runner"
    TRIGGER = "pipeline-trigger"
    SCHEDULER_INVOKER = "scheduler-invoker"
    SERVING = "model-serving"
    FUNCTION_BUILDER = "function-builder"
    COMPOSER_WORKER = "composer-worker"
    # One identity per delivery job: pull-request checks, publishing, applying.
    CHECKS = "cloudbuild-checks"
    PUBLISHER = "cloudbuild-publisher"
    DEPLOYER = "cloudbuild-deployer"

    CONTAINERS_REPOSITORY = "containers"
    PIPELINES_REPOSITORY = "pipelines"
    FUNCTIONS_REPOSITORY = "functions"

    def bucket(self, purpose: str) -> str:
        return bucket_name(self.project_id, purpose)

    @staticmethod
    def team_prefix(team: str) -> str:
        """A team's corner of the data, pipeline-root and models buckets (a managed folder)."""
        return f"teams/{team}/"

    @staticmethod
    def team_account(team: str) -> str:
        """A team's runner account id (team names are at most 25 characters)."""
        return f"team-{team}"

    def service_account_email(self, account_id: str) -> str:
        return f"{account_id}@{self.project_id}.iam.gserviceaccount.com"

    @property
    def kms_key_ring(self) -> str:
        return f"{self.environment}-platform"

    @property
    def kms_key(self) -> str:
        """The CMEK key's resource name (the key carries the key ring's name)."""
        return (
            f"projects/{self.project_id}/locations/{self.region}/keyRings/{self.kms_key_ring}"
            f"/cryptoKeys/{self.kms_key_ring}"
        )

    @property
    def pipeline_root(self) -> str:
        return f"gs://{self.bucket('pipeline-root')}"

    @property
    def kfp_repository_url(self) -> str:
        return f"https://{self.region}-kfp.pkg.dev/{self.project_id}/{self.PIPELINES_REPOSITORY}"

    @property
    def components_image(self) -> str:
        return f"{self.region}-docker.pkg.dev/{self.project_id}/{self.CONTAINERS_REPOSITORY}/python-components"


def environments_dir() -> Path:
    return Path(os.environ.get(ENVIRONMENTS_DIR_VARIABLE) or REPO_ROOT / "environments").resolve()


def environment_path(name: str) -> Path:
    return environments_dir() / f"{name}.yaml"


def environment_names() -> list[str]:
    return sorted(p.stem for p in environments_dir().glob("*.yaml"))


def load_environment(name: str) -> Environment:
    """Read and validate `environments/<name>.yaml`; raise ConfigError naming every problem."""
    if name not in environment_names():
        raise ConfigError([f"ENV: {name!r} is not an environment; expected one of {', '.join(environment_names())}"])
    path = environment_path(name)
    environment = validate_file(Environment, path)
    environment._name = name
    environment._teams = [team for team in load_teams() if name in team.environments]
    return environment


def teams_dir() -> Path:
    return environments_dir() / "teams"


def team_path(name: str) -> Path:
    return teams_dir() / f"{name}.yaml"


def load_teams() -> list[Team]:
    """Every team file, validated; a file's name must be its team's name, its environments real."""
    known = environment_names()
    teams, problems = [], []
    for path in sorted(teams_dir().glob("*.yaml")):
        try:
            team = validate_file(Team, path)
        except ConfigError as error:
            problems.extend(error.problems)
            continue
        shown = display_path(path)
        if team.name != path.stem:
            problems.append(f"{shown}: name: {team.name!r} does not match the file name; expected {path.stem!r}")
        for index, environment in enumerate(team.environments):
            if environment not in known:
                problems.append(
                    f"{shown}: environments[{index}]: {environment!r} is not an environment; expected "
                    f"one of {', '.join(known)}"
                )
        teams.append(team)
    if problems:
        raise ConfigError(problems)
    return teams


def load_environments(names: list[str] | None = None) -> list[Environment]:
    """Load the named environments (all when None), reporting the problems of every file at once."""
    environments, problems = [], []
    for name in names or environment_names():
        try:
            environments.append(load_environment(name))
        except ConfigError as error:
            problems.extend(error.problems)
    if problems:
        raise ConfigError(problems)
    return environments


def validate_file(model: type[M], path: Path) -> M:
    """Parse a YAML file strictly and validate it against `model`."""
    shown = display_path(path)
    data = _read_yaml(path, shown)
    try:
        return model.model_validate(data)
    except ValidationError as error:
        raise ConfigError([f"{shown}: {_describe(model, e)}" for e in error.errors()]) from None


def display_path(path: Path) -> str:
    """A config file's path as users know it: relative to the folder holding `environments/`."""
    try:
        return str(path.resolve().relative_to(environments_dir().parent))
    except ValueError:
        return str(path)


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys instead of silently keeping the last one."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                mark = key_node.start_mark
                raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _read_yaml(path: Path, shown: str) -> dict:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([f"{shown}: no such file"]) from None
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError([f"{shown}: cannot be read as UTF-8 text ({error})"]) from None
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(error, "problem", None) or str(error)
        raise ConfigError([f"{shown}: not valid YAML: {where}{problem}"]) from None
    if data is None:
        raise ConfigError([f"{shown}: the file is empty; expected a mapping of settings"])
    if not isinstance(data, dict):
        raise ConfigError([f"{shown}: top level: {_kind(data)}; expected a mapping of settings"])
    return data


_TYPE_EXPECTATIONS = {
    "string_type": "a string",
    "int_type": "an integer",
    "int_from_float": "an integer",
    "float_type": "a number",
    "bool_type": "true or false",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
    "list_type": "a list",
}


_KINDS = {bool: "a boolean", int: "an integer", float: "a number", str: "a string", list: "a list", dict: "a mapping"}


def kind_of(value: Any) -> str:
    """What a parsed YAML or JSON value is, in words: 'a string', 'a list', ..."""
    return "null" if value is None else _KINDS.get(type(value), type(value).__name__)


def _kind(value: Any) -> str:
    return "empty" if value is None else f"{value!r} is {kind_of(value)}"


def _describe(model: type[BaseModel], error: dict) -> str:
    """One pydantic error as 'key.path: what was wrong; what was expected'."""
    loc = error["loc"]
    kind = error["type"]
    value = error.get("input")
    where = _key_path(loc)
    if kind == "missing":
        return f"{where}: required key is missing; expected {_field_description(model, loc)}"
    if kind == "extra_forbidden":
        allowed = _allowed_keys(model, loc[:-1])
        return f"{where}: unknown key; expected one of {', '.join(allowed)}"
    if kind == "literal_error":
        return f"{where}: {value!r} is not one of {error['ctx']['expected'].replace(chr(39), '').replace(' or ', ', ')}"
    if kind in _TYPE_EXPECTATIONS:
        return f"{where}: {_kind(value)}; expected {_TYPE_EXPECTATIONS[kind]}"
    if kind == "too_short":
        return f"{where}: none given; expected at least {error['ctx']['min_length']}"
    if kind in ("less_than_equal", "greater_than_equal"):
        bound, word = (
            (error["ctx"].get("le"), "most") if kind == "less_than_equal" else (error["ctx"].get("ge"), "least")
        )
        return f"{where}: {value!r} is out of range; expected at {word} {bound}"
    if kind == "value_error":
        return f"{where}: {value!r} is not valid; {error['ctx']['error']}"
    return f"{where}: {value!r} is not valid; {error['msg'][0].lower()}{error['msg'][1:]}"


def _key_path(loc: tuple) -> str:
    parts = []
    for part in loc:
        if isinstance(part, int):
            parts.append(f"[{part}]")
        elif parts:
            parts.append(f".{part}")
        else:
            parts.append(str(part))
    return "".join(parts) or "top level"


def _model_at(model: type[BaseModel], loc: tuple) -> type[BaseModel] | None:
    """The nested model class a location points into, following fields and list items."""
    current: Any = model
    for part in loc:
        if isinstance(part, int):
            continue
        if not (isinstance(current, type) and issubclass(current, BaseModel)) or part not in current.model_fields:
            return None
        current = _inner_model(current.model_fields[part].annotation)
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _inner_model(annotation: Any) -> Any:
    for arg in getattr(annotation, "__args__", ()):
        if isinstance(arg, type) and issubclass(arg, BaseModel):
            return arg
    return annotation


def _allowed_keys(model: type[BaseModel], loc: tuple) -> list[str]:
    target = _model_at(model, loc)
    return sorted(target.model_fields) if target else []


def _field_description(model: type[BaseModel], loc: tuple) -> str:
    parent = _model_at(model, loc[:-1])
    field = parent.model_fields.get(loc[-1]) if parent else None
    return field.description if field and field.description else "a value"
