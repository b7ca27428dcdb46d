"""The schema of `environments/<name>.yaml` and `environments/teams/<team>.yaml`: strict pydantic
models (unknown keys, wrong types and bad values are errors). Loading and messages live in
loading.py and messages.py; the names of what an environment creates in naming.py.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PrivateAttr

from environments.naming import (
    MANAGED_BY,
    MODEL,
    MODEL_ID,
    PIPELINES,
    PLATFORM_LABEL_KEYS,
    SOURCE_URL,
    TAG,
    ResourceNames,
)
from environments.regions import GCP_REGIONS

_PROJECT_ID = re.compile(r"[a-z][a-z0-9-]{4,28}[a-z0-9]")
_LABEL_KEY = re.compile(r"[a-z][a-z0-9_-]{0,62}")
_LABEL_VALUE = re.compile(r"[a-z0-9_-]{0,63}")
_BUCKET_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]")
# Addresses as Google accounts and groups spell them: no spaces, quotes other than ', brackets or
# `$`, which an address never needs and a shell or a template reads as code.
_DOMAIN = r"[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}"
_ADDRESS = rf"[A-Za-z0-9._%+'-]+@{_DOMAIN}"
_EMAIL = re.compile(_ADDRESS)
_SCHEDULE_NAME = re.compile(r"[a-z][a-z0-9-]{0,49}")
# GKE Workload Identity's members too: serviceAccount:<project>.svc.id.goog[<namespace>/<account>].
_WORKLOAD_IDENTITY = r"[a-z][a-z0-9-]{4,28}[a-z0-9]\.svc\.id\.goog\[[a-z0-9-]+/[a-z0-9-]+\]"
_MEMBER = re.compile(rf"(?:user|group|serviceAccount):{_ADDRESS}|serviceAccount:{_WORKLOAD_IDENTITY}|domain:{_DOMAIN}")


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


def _each_once(noun: str):
    """Refuse an address listed twice: addresses are read without regard to case, so `user:Ana@acme.com`
    and `user:ana@acme.com` are one member (whose grant the stack would declare twice), and
    `Ana@acme.com` and `ana@acme.com` one mailbox (which every alert would reach twice)."""

    def validate(values: list[str]) -> list[str]:
        first: dict[str, int] = {}
        for index, value in enumerate(values):
            earlier = first.setdefault(value.lower(), index)
            if earlier != index:
                case = "" if values[earlier] == value else " (addresses are read without regard to case)"
                raise ValueError(
                    f"[{index}] {value!r} is [{earlier}] {values[earlier]!r} again{case}; expected each {noun} once"
                )
        return values

    return AfterValidator(validate)


def _check_time_zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError("expected an IANA time zone such as Europe/London or Etc/UTC") from None
    return value


# Cloud Scheduler's unix-cron fields and their values (cloud.google.com/scheduler/docs/configuring/
# cron-job-schedules): it refuses anything else when the job is created, so synth refuses it first.
_CRON_FIELDS = (
    ("minute", 0, 59, ()),
    ("hour", 0, 23, ()),
    ("day of the month", 1, 31, ()),
    ("month", 1, 12, ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")),
    ("day of the week", 0, 7, ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")),  # 7 is Sunday too
)
_CRON_ITEM = re.compile(r"(?P<range>\*|(?P<first>[0-9A-Za-z]+)(?:-(?P<last>[0-9A-Za-z]+))?)(?:/(?P<step>[0-9]+))?")
_CRON_EXPECTED = (
    "expected a unix-cron expression of five fields (minute 0-59, hour 0-23, day of the month 1-31, "
    "month 1-12 or JAN-DEC, day of the week 0-7 or SUN-SAT), such as '0 3 * * *'"
)


def _check_cron(value: str) -> str:
    fields = value.split()
    if len(fields) != len(_CRON_FIELDS):
        raise ValueError(f"{len(fields)} field{'' if len(fields) == 1 else 's'}; {_CRON_EXPECTED}")
    for text, (name, low, high, names) in zip(fields, _CRON_FIELDS, strict=True):
        for item in text.split(","):
            if problem := _cron_item_problem(item, low, high, names):
                raise ValueError(f"{name} {item!r} {problem}; {_CRON_EXPECTED}")
    return value


def _cron_item_problem(item: str, low: int, high: int, names: tuple[str, ...]) -> str | None:
    """Why one comma-separated item of a cron field is not `*`, a value or a range, each with an
    optional /step, within low-high (or named); None when it is."""
    match = _CRON_ITEM.fullmatch(item)
    if not match:
        return "is not a value, a range or *"

    def number(text: str) -> int | None:
        if text.isascii() and text.isdigit():
            return int(text)
        return names.index(text.upper()) + low if text.upper() in names else None

    if match["step"] is not None and int(match["step"]) < 1:
        return "steps by 0"
    if match["range"] == "*":
        return None
    first, last = number(match["first"]), number(match["last"] or match["first"])
    if first is None or last is None:
        return "is not a number" + (f" or one of {names[0]}-{names[-1]}" if names else "")
    if not low <= first <= high or not low <= last <= high:
        return f"is out of range ({low}-{high})"
    if first > last:
        return "is a range that ends before it starts"
    return None


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


class CycleSource(_Strict):
    """Where the daily cycle collects each day's observations.

    - `reference`: the reference series replayed one day at a time (local runs, `make simulate`);
    - `http`: a CSV endpoint; `{day}` in the URL is replaced by the day collected (YYYY-MM-DD);
    - `drop`: `<prefix><day>.csv` in the environment's data bucket, where upstream systems write files.
    """

    kind: Literal["reference", "http", "drop"] = "reference"
    url: (
        Annotated[
            str,
            _check(SOURCE_URL, "an http(s) URL such as https://data.acme.com/{day}.csv"),
        ]
        | None
    ) = Field(None, description="the CSV endpoint, for kind http")
    prefix: Annotated[
        str,
        _check(re.compile(r"(?:[A-Za-z0-9._=-]+/)+"), "an object prefix ending in '/', such as incoming/demand/"),
    ] = "incoming/"

    def model_post_init(self, context: Any) -> None:
        if (self.kind == "http") != (self.url is not None):
            raise ValueError("url is set exactly when kind is http; expected a url with kind: http only")


class Cycle(_Strict):
    """The daily cycle: collect, forecast, score yesterday against actuals, check drift and
    accuracy, retrain through the gate. Composer runs it where `composer.enabled`, Cloud Scheduler
    through the trigger elsewhere, once a day at `cron` for the day before."""

    enabled: bool = Field(False, description="true or false")
    cron: Annotated[str, AfterValidator(_check_cron)] = "0 7 * * *"
    time_zone: Annotated[str, AfterValidator(_check_time_zone)] = "Etc/UTC"
    source: CycleSource = Field(default_factory=CycleSource)
    degradation_ratio: float = Field(
        1.0, gt=0, le=10, description="the champion's error over the better naive rule's that counts as degraded"
    )
    degradation_days: int = Field(3, ge=1, le=30, description="consecutive degraded days that trigger retraining")
    drift_threshold: float = Field(
        0.5,
        ge=0,
        le=1,
        description="share of drifted columns above which drift triggers retraining, as does the target's own "
        "drift below 1 (1: never on drift)",
    )
    drift_window_days: int = Field(7, ge=1, le=60, description="recent days compared with the training data")
    bigquery_table: bool = Field(False, description="true for a BigQuery external table over the stored forecasts")


class Storage(_Strict):
    """Bucket settings shared by the platform's buckets."""

    pipeline_root_retention_days: int = Field(
        30, ge=1, le=3650, description="days before pipeline-root objects expire, 1 to 3650"
    )
    noncurrent_version_retention_days: int = Field(
        30, ge=1, le=3650, description="days a replaced object version is kept, 1 to 3650"
    )


class Notifications(_Strict):
    emails: Annotated[list[Email], _each_once("address")] = Field(default_factory=list)


class Schedule(_Strict):
    """A Cloud Scheduler job that starts a pipeline through the trigger function."""

    name: Annotated[
        str,
        _check(_SCHEDULE_NAME, "lowercase letters, digits and hyphens, starting with a letter, at most 50 characters"),
    ]
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
    model: Annotated[str, _check(MODEL_ID, "a Vertex AI model id such as forecaster")] = Field(
        MODEL, description="the one named model whose champion predict serves (a training run's registry model)"
    )
    invokers: Annotated[
        list[Annotated[str, _check(_MEMBER, "an IAM member such as group:ml@acme.com")]],
        _each_once("member"),
    ] = Field(
        min_length=1,
        description="at least one IAM member who may call predict, e.g. [group:forecast-users@acme.com]; "
        "with none, nothing could call it",
    )


PUBLIC_MEMBERS = ("allUsers", "allAuthenticatedUsers")


def _check_viewer(value: str) -> str:
    if value.split(":", 1)[-1] in PUBLIC_MEMBERS or not _MEMBER.fullmatch(value):
        raise ValueError(
            "expected a user, group, service account or domain such as group:ml@acme.com "
            "(never allUsers or allAuthenticatedUsers: the dashboard is not public)"
        )
    return value


class Dashboard(_Strict):
    """The dashboard deployed as a Cloud Run service in the environment, reading its registry and
    pipeline root as its own read-only service account. Only `viewers` may open it (run.invoker):
    never allUsers or allAuthenticatedUsers."""

    viewers: Annotated[list[Annotated[str, AfterValidator(_check_viewer)]], _each_once("member")] = Field(
        min_length=1,
        description="at least one IAM member who may open the dashboard, e.g. [group:ml-platform@acme.com]",
    )


class Functions(_Strict):
    pipeline_trigger: FunctionSettings = Field(default_factory=FunctionSettings)
    predict: PredictSettings = Field(description="predict's settings, at least its invokers")


def _check_regular_expression(value: str) -> str:
    """Cloud Build matches branches and tags with "the syntax accepted by RE2"
    (cloud.google.com/build/docs/api/reference/rest/v1/RepoSource), so the pattern is compiled by
    RE2 itself (google-re2): Python's `re` also takes lookarounds and backreferences, which RE2
    refuses, and the trigger's create call would fail at apply."""
    import re2  # synth and the make targets only: the deployed workloads never read delivery settings

    options = re2.Options()
    options.log_errors = False  # the reason is in the message; RE2 would also print it to stderr
    try:
        re2.compile(value, options)
    except re2.error as error:
        reason = error.args[0].decode() if isinstance(error.args[0], bytes) else error.args[0]
        raise ValueError(
            f"not an RE2 regular expression, as Cloud Build reads it ({reason}); expected e.g. ^main$ or ^v.*$ "
            "(RE2 has no lookahead, lookbehind or backreferences)"
        ) from None
    return value


RegularExpression = Annotated[str, AfterValidator(_check_regular_expression)]
# A service account's email: <account>@<project>.iam.gserviceaccount.com, or a Google-made
# account's (<number>-compute@developer.gserviceaccount.com, <project>@appspot.gserviceaccount.com).
ServiceAccountEmail = Annotated[
    str,
    _check(
        re.compile(r"[a-z0-9][a-z0-9.-]*@[a-z0-9.-]*gserviceaccount\.com"),
        "a service account's email, e.g. planner@<project>.iam.gserviceaccount.com",
    ),
]


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
    pattern: RegularExpression = Field(description="the branch or tag regular expression, e.g. ^main$ or ^v.*$")
    approval_required: bool = False
    pull_request_checks: bool = False
    pull_request_branch: RegularExpression = "^main$"
    plan_service_account: ServiceAccountEmail | None = Field(
        None,
        description="a read-only identity made outside the stack (project viewer); pull requests then also "
        "show the plan against this environment's real state",
    )


class Budget(_Strict):
    monthly_amount: float = Field(gt=0, description="a positive amount per month")
    currency: Annotated[str, _check(re.compile(r"[A-Z]{3}"), "an ISO 4217 currency code such as USD")] = "USD"


TEAM_NAME = re.compile(r"[a-z](?:[a-z0-9-]{0,23}[a-z0-9])?")
TeamName = Annotated[
    str,
    _check(
        TEAM_NAME,
        "lowercase letters, digits and hyphens, starting with a letter, at most 25 characters "
        "(the team's service account is team-<name>)",
    ),
]
Member = Annotated[str, _check(_MEMBER, "an IAM member such as group:ml@acme.com or user:ana@acme.com")]


class Team(_Strict):
    """A team: `environments/teams/<name>.yaml`."""

    name: TeamName
    owners: Annotated[list[Member], _each_once("member")] = Field(
        min_length=1, description="IAM members who own the team's resources"
    )
    environments: Annotated[list[str], _each_once("environment")] = Field(
        min_length=1, description="the environments the team is enabled in"
    )
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
    cycle: Cycle = Field(default_factory=Cycle)
    delivery: Delivery | None = None
    dashboard: Dashboard | None = Field(None, description="deploys the dashboard for its viewers")
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
