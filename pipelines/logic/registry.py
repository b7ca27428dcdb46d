"""The model registry: every version kept, one `champion` alias that moves only on promotion.

`LocalRegistry` keeps versions in a folder (local runs, tests, `make demo`); `VertexRegistry` uses
Vertex AI Model Registry, with artifacts in the environment's models bucket. Both take a
registry URI: a folder path, or `vertex://<project>/<region>/<model>`.

A version holds exactly `ARTIFACT_FILES` (the forecaster's saved form and its drift reference);
nothing else is stored or fetched. `fetch` gets what serving needs unless asked for more.

Promotion is a compare-and-swap on the champion: `register(..., decide=...)` calls `decide` with
the champion as it is at the moment the alias would move, and records the version with what
`decide` returns (see `promotion.py`, which re-scores the challenger when the champion changed
since evaluation).

The local registry stays bounded: registering artifacts identical to an existing version's (the
same training data and parameters train the same model) returns that version instead of adding
one, so repeated `make demo` runs on unchanged data add nothing. Vertex AI keeps every version.

A champion pointer naming no complete version (dangling or partial) makes `champion()` raise
`BrokenChampion`: serving keeps the model it has loaded; training treats it as no champion, and
its registration replaces the pointer (promotion) or removes it (no promotion), with a warning.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import re
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from pipelines.logic.model import SERVING_FILES, TRAINING_DATA_FILE
from pipelines.logic.model_names import MODEL_ID, artifacts_prefix, vertex_parts

CHAMPION = "champion"
# The serving container a Vertex AI registration declares, so the model can be deployed to an
# endpoint: the components image running functions/vertex_serving.py (the predict function's code)
# under the custom-container contract (cloud.google.com/vertex-ai/docs/predictions/custom-container-requirements).
SERVING_COMMAND = ["python", "-m", "functions.vertex_serving"]
SERVING_PORT = 8080
SERVING_HEALTH_ROUTE, SERVING_PREDICT_ROUTE = "/health", "/predict"
METADATA_FILE = "version.json"
# What a registered version holds: the forecaster, its description, its training data (the drift
# reference). Registration stores only these names, fetching downloads only these names.
ARTIFACT_FILES = (*SERVING_FILES, TRAINING_DATA_FILE)

log = logging.getLogger(__name__)


class RegistryError(Exception):
    """The registry holds something it cannot use; the message names what and where."""


class BrokenChampion(RegistryError):
    """The champion pointer names no complete version (dangling or partial)."""


@dataclass(frozen=True)
class ModelVersion:
    version: str
    artifacts: str  # a folder or gs:// prefix holding ARTIFACT_FILES
    metrics: dict
    created: str


# Called with the champion at the moment the alias would move; answers whether to promote and
# the metrics to record with the new version.
Decide = Callable[[ModelVersion | None], tuple[bool, dict]]


class Registry(Protocol):
    def versions(self) -> list[ModelVersion]:
        """Every complete version, oldest first."""

    def champion(self) -> ModelVersion | None: ...

    def register(
        self, artifacts: Path, metrics: dict, *, promote: bool = False, decide: Decide | None = None
    ) -> ModelVersion: ...

    def fetch(self, version: ModelVersion, files: Iterable[str] = SERVING_FILES) -> Path:
        """A local folder holding (at least) the version's `files`."""


def artifact_path(folder: Path, name: str) -> Path:
    """Where artifact `name` goes inside `folder`: only the expected file names, never outside."""
    if name not in ARTIFACT_FILES:
        raise RegistryError(f"artifact {name!r} is not one of {', '.join(ARTIFACT_FILES)}")
    path = (folder / name).resolve()
    if path.parent != folder.resolve():
        raise RegistryError(f"artifact {name!r} resolves outside {folder}")
    return path


class LocalRegistry:
    """Versions in `<root>/versions/<n>/`, the champion alias in `<root>/champion`.

    Writers hold an exclusive lock (`<root>/.lock`, flock: released when a process dies). A
    version is written into a staging folder (`<root>/.staging-*`) and renamed into place, so a
    `versions/<n>` always holds a complete version; the pointer is replaced with a rename. Names
    starting with '.' are never read; the next registration removes the leftovers of a killed or
    failed one (staging folders, temporary files, incomplete version folders).
    """

    STAGING_PREFIX = ".staging-"
    TEMP_SUFFIX = ".tmp"

    def __init__(self, root: Path, *, reuse_identical: bool = False) -> None:
        """`reuse_identical`: registering artifacts identical to a version's returns that version
        (how pipelines open a local registry, see `open_registry`)."""
        self.root = Path(root)
        self.reuse_identical = reuse_identical
        self._versions = self.root / "versions"

    def versions(self) -> list[ModelVersion]:
        found = []
        for folder in sorted(self._numbered(), key=lambda p: int(p.name)):
            version = self._read(folder)
            if version is not None:
                found.append(version)
        return found

    def champion(self) -> ModelVersion | None:
        pointer = self.root / CHAMPION
        try:
            named = pointer.read_text().strip()
        except FileNotFoundError:
            return None
        version = self._read(self._versions / named) if named.isdigit() else None
        if version is None:
            raise BrokenChampion(
                f"registry {self.root}: the champion pointer names {named[:20]!r}, which is not a complete "
                "version; the next training replaces or removes it"
            )
        return version

    def register(
        self, artifacts: Path, metrics: dict, *, promote: bool = False, decide: Decide | None = None
    ) -> ModelVersion:
        self._versions.mkdir(parents=True, exist_ok=True)
        with self._locked():
            self._remove_leftovers()
            if self.reuse_identical and (same := self._identical(artifacts)) is not None:
                log.info(
                    "registry %s: version %s holds these very artifacts; not registered again", self.root, same.version
                )
                return same
            try:
                current, broken = self.champion(), False
            except BrokenChampion as error:
                log.warning("%s; treated as no champion", error)
                current, broken = None, True
            if decide is not None:
                promote, decided = decide(current)
                metrics = metrics | decided
            version = self._add_version(artifacts, metrics)
            if promote:
                self._write(self.root / CHAMPION, version.version)
            elif broken:
                (self.root / CHAMPION).unlink()
                log.warning("registry %s: removed the champion pointer that named no complete version", self.root)
        return version

    def _identical(self, artifacts: Path) -> ModelVersion | None:
        """The version whose artifact files are byte for byte these (the same training data and
        parameters train the same model), so repeated runs on unchanged data add nothing."""
        wanted = _fingerprint(artifacts)
        return next((v for v in self.versions() if _fingerprint(Path(v.artifacts)) == wanted), None)

    def fetch(self, version: ModelVersion, files: Iterable[str] = SERVING_FILES) -> Path:
        folder = Path(version.artifacts)
        if folder.parent.resolve() != self._versions.resolve() or not folder.name.isdigit():
            raise RegistryError(
                f"version {version.version}: artifacts {version.artifacts!r} are outside {self._versions}"
            )
        missing = [name for name in files if not artifact_path(folder, name).is_file()]
        if missing:
            raise RegistryError(f"version {version.version}: missing artifact files {', '.join(missing)}")
        return folder

    def _add_version(self, artifacts: Path, metrics: dict) -> ModelVersion:
        """Stage the version completely, then rename it into place (the caller holds the lock)."""
        staging = Path(tempfile.mkdtemp(prefix=self.STAGING_PREFIX, dir=self.root))
        try:
            for name in ARTIFACT_FILES:
                if (artifacts / name).is_file():
                    shutil.copyfile(artifacts / name, artifact_path(staging, name))
            number = max((int(p.name) for p in self._numbered()), default=0) + 1
            version = ModelVersion(
                version=str(number),
                artifacts=str(self._versions / str(number)),
                metrics=metrics,
                created=datetime.now(UTC).isoformat(timespec="seconds"),
            )
            _write_durably(staging / METADATA_FILE, json.dumps(asdict(version), indent=2))
            os.rename(staging, self._versions / str(number))
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        return version

    def _write(self, path: Path, text: str) -> None:
        """Replace `path` with a rename of a complete temporary file."""
        temporary = path.parent / f".{path.name}.{uuid.uuid4().hex}{self.TEMP_SUFFIX}"
        try:
            _write_durably(temporary, text)
            os.replace(temporary, path)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise

    def _remove_leftovers(self) -> None:
        """What killed or failed registrations left (the caller holds the lock, so no registration
        is under way): staging folders, temporary files, version folders without metadata."""
        for path in self.root.iterdir():
            if path.name.startswith(self.STAGING_PREFIX):
                shutil.rmtree(path, ignore_errors=True)
            elif path.name.startswith(".") and path.name.endswith(self.TEMP_SUFFIX):
                path.unlink(missing_ok=True)
        for folder in self._numbered():
            if self._read(folder) is None:
                shutil.rmtree(folder, ignore_errors=True)

    def _numbered(self) -> list[Path]:
        return [p for p in self._versions.iterdir() if p.name.isdigit()] if self._versions.is_dir() else []

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        with (self.root / ".lock").open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield

    @staticmethod
    def _read(folder: Path) -> ModelVersion | None:
        """The version in `folder`, or None when it is not a complete version."""
        try:
            return ModelVersion(**json.loads((folder / METADATA_FILE).read_text()))
        except (OSError, ValueError, TypeError):
            return None


def _fingerprint(folder: Path) -> str:
    digest = hashlib.sha256()
    for name in ARTIFACT_FILES:
        path = folder / name
        digest.update(name.encode() + (path.read_bytes() if path.is_file() else b"\0missing"))
    return digest.hexdigest()


def _write_durably(path: Path, text: str) -> None:
    with path.open("w") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())


class VertexRegistry:
    """Vertex AI Model Registry: each registration is a new version of one model whose resource id
    is the model's name (`projects/<p>/locations/<r>/models/<model>`), with artifacts under
    `gs://<project>-models/<model>/<stamp>/`; promotion moves the `champion` alias.

    Vertex AI has no compare-and-swap on aliases: the alias is re-read just before the upload
    that moves it, which shrinks the window from a whole evaluation to one API call.
    """

    def __init__(self, project: str, region: str, model: str, serving_image: str | None = None) -> None:
        from environments.naming import bucket_name

        if not MODEL_ID.fullmatch(model):
            raise ValueError(
                f"model {model!r}: expected a Vertex AI model id: a lowercase letter, then up to 62 lowercase "
                "letters, digits, '_' or '-'"
            )
        self.project, self.region, self.model = project, region, model
        self.serving_image = serving_image
        self.bucket = bucket_name(project, "models")
        self.resource_name = f"projects/{project}/locations/{region}/models/{model}"
        self.prefix = artifacts_prefix(model)
        self._artifacts = re.compile(rf"gs://{re.escape(self.bucket)}/{re.escape(self.prefix)}/[A-Za-z0-9_-]+")

    def _serving_image(self) -> str:
        if not self.serving_image:
            raise RegistryError(
                f"registering into {self.resource_name} needs the components image, which every version "
                "declares as its serving container"
            )
        return self.serving_image

    def _model(self, name: str):
        from google.api_core.exceptions import NotFound
        from google.cloud import aiplatform

        try:
            return aiplatform.Model(name)
        except NotFound:
            return None

    def versions(self) -> list[ModelVersion]:
        """Every version of the model, oldest first; none before the first registration."""
        model = self._model(self.resource_name)
        if model is None:
            return []
        listed = model.api_client.list_model_versions(name=self.resource_name)
        found = [
            ModelVersion(
                version=version.version_id,
                artifacts=version.artifact_uri,
                metrics=json.loads(version.version_description or "{}"),
                created=version.version_create_time.isoformat(),
            )
            for version in listed
        ]
        return sorted(found, key=lambda version: int(version.version))

    def champion(self) -> ModelVersion | None:
        model = self._model(f"{self.resource_name}@{CHAMPION}")
        if model is None:
            return None
        return ModelVersion(
            version=model.version_id,
            artifacts=model.uri,
            metrics=json.loads(model.version_description or "{}"),
            created=model.version_create_time.isoformat(),
        )

    def register(
        self, artifacts: Path, metrics: dict, *, promote: bool = False, decide: Decide | None = None
    ) -> ModelVersion:
        from google.cloud import aiplatform, storage

        prefix = f"{self.prefix}/{datetime.now(UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"
        bucket = storage.Client(project=self.project).bucket(self.bucket)
        for name in ARTIFACT_FILES:
            if (artifacts / name).is_file():
                bucket.blob(f"{prefix}/{name}").upload_from_filename(artifacts / name)
        parent = self._model(self.resource_name)
        if decide is not None:
            promote, decided = decide(self.champion())  # re-read just before the alias moves
            metrics = metrics | decided
        model = aiplatform.Model.upload(
            display_name=self.model,
            model_id=None if parent else self.model,
            parent_model=self.resource_name if parent else None,
            artifact_uri=f"gs://{self.bucket}/{prefix}",
            serving_container_image_uri=self._serving_image(),
            serving_container_command=SERVING_COMMAND,
            serving_container_ports=[SERVING_PORT],
            serving_container_health_route=SERVING_HEALTH_ROUTE,
            serving_container_predict_route=SERVING_PREDICT_ROUTE,
            version_aliases=[CHAMPION] if promote else None,
            is_default_version=promote or parent is None,
            version_description=json.dumps(metrics),
            project=self.project,
            location=self.region,
        )
        return ModelVersion(
            version=model.version_id,
            artifacts=model.uri,
            metrics=metrics,
            created=model.version_create_time.isoformat(),
        )

    def fetch(self, version: ModelVersion, files: Iterable[str] = SERVING_FILES) -> Path:
        """Download `files` of the version into a new folder: only from this model's prefix in the
        models bucket, only the expected names."""
        from google.api_core.exceptions import NotFound
        from google.cloud import storage

        if not self._artifacts.fullmatch(version.artifacts or ""):
            raise RegistryError(
                f"version {version.version}: artifacts {version.artifacts!r} are not under "
                f"gs://{self.bucket}/{self.prefix}/"
            )
        prefix = version.artifacts.removeprefix(f"gs://{self.bucket}/")
        bucket = storage.Client(project=self.project).bucket(self.bucket)
        target = Path(tempfile.mkdtemp(prefix="model-"))
        try:
            for name in files:
                bucket.blob(f"{prefix}/{name}").download_to_filename(artifact_path(target, name))
        except NotFound:
            shutil.rmtree(target)
            raise RegistryError(
                f"version {version.version}: missing artifact files under {version.artifacts}"
            ) from None
        except BaseException:
            shutil.rmtree(target)
            raise
        return target


def champion_to_use(registry: Registry, uri: str) -> ModelVersion:
    """The champion a step uses, or RegistryError saying why there is none (a broken pointer, or no
    champion yet)."""
    champion = registry.champion()
    if champion is None:
        raise RegistryError(f"registry {uri} has no champion yet; run the training pipeline first")
    return champion


def open_registry(uri: str, serving_image: str | None = None) -> Registry:
    """A folder path, or `vertex://<project>/<region>/<model>`; `serving_image` is the image a Vertex
    AI registration declares as the model's serving container (the components image)."""
    if uri.startswith("vertex://"):
        if (parts := vertex_parts(uri)) is None:
            raise ValueError(f"registry {uri!r}: expected vertex://<project>/<region>/<model>")
        return VertexRegistry(*parts, serving_image=serving_image)
    return LocalRegistry(Path(uri), reuse_identical=True)
