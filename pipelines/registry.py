"""The model registry: every version kept, one `champion` alias that moves only on promotion.

`LocalRegistry` keeps versions in a folder (local runs, tests, `make demo`); `VertexRegistry` uses
Vertex AI Model Registry, with artifacts in the environment's models bucket. Both take a
registry URI: a folder path, or `vertex://<project>/<region>/<model>`.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

CHAMPION = "champion"
METADATA_FILE = "version.json"


@dataclass(frozen=True)
class ModelVersion:
    version: str
    artifacts: str  # a folder or gs:// prefix holding the forecaster, its metrics and training data
    metrics: dict
    created: str


class Registry(Protocol):
    def champion(self) -> ModelVersion | None: ...

    def register(self, artifacts: Path, metrics: dict, *, promote: bool) -> ModelVersion: ...

    def fetch(self, version: ModelVersion) -> Path:
        """A local folder holding the version's artifacts."""


class LocalRegistry:
    """Versions in `<root>/versions/<n>/`, the champion alias in `<root>/champion`."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def versions(self) -> list[ModelVersion]:
        folder = self.root / "versions"
        found = (
            sorted((p for p in folder.iterdir() if (p / METADATA_FILE).exists()), key=lambda p: int(p.name))
            if folder.exists()
            else []
        )
        return [self._read(p) for p in found]

    def champion(self) -> ModelVersion | None:
        pointer = self.root / CHAMPION
        if not pointer.exists():
            return None
        return self._read(self.root / "versions" / pointer.read_text().strip())

    def register(self, artifacts: Path, metrics: dict, *, promote: bool) -> ModelVersion:
        folder = self._new_version_folder()
        shutil.copytree(artifacts, folder, dirs_exist_ok=True)
        version = ModelVersion(
            version=folder.name,
            artifacts=str(folder),
            metrics=metrics,
            created=datetime.now(UTC).isoformat(timespec="seconds"),
        )
        _write_atomically(folder / METADATA_FILE, json.dumps(asdict(version), indent=2))
        if promote:
            _write_atomically(self.root / CHAMPION, version.version)
        return version

    def fetch(self, version: ModelVersion) -> Path:
        return Path(version.artifacts)

    def _new_version_folder(self) -> Path:
        """The next version number; mkdir is atomic, so concurrent registrations never collide."""
        (self.root / "versions").mkdir(parents=True, exist_ok=True)
        while True:
            existing = [int(p.name) for p in (self.root / "versions").iterdir() if p.name.isdigit()]
            folder = self.root / "versions" / str(max(existing, default=0) + 1)
            try:
                folder.mkdir()
                return folder
            except FileExistsError:
                continue

    @staticmethod
    def _read(folder: Path) -> ModelVersion:
        return ModelVersion(**json.loads((folder / METADATA_FILE).read_text()))


def _write_atomically(path: Path, text: str) -> None:
    with tempfile.NamedTemporaryFile("w", dir=path.parent, delete=False) as handle:
        handle.write(text)
    os.replace(handle.name, path)


class VertexRegistry:
    """Vertex AI Model Registry: each registration is a new version of one parent model, whose
    artifacts live under `gs://<project>-models/<model>/`; promotion moves the `champion` alias."""

    # Lets the registered model also be deployed to a Vertex endpoint as a plain XGBoost model.
    SERVING_IMAGE = "europe-docker.pkg.dev/vertex-ai/prediction/xgboost-cpu.2-1:latest"

    def __init__(self, project: str, region: str, model: str) -> None:
        from environments.config import bucket_name

        self.project, self.region, self.model = project, region, model
        self.bucket = bucket_name(project, "models")

    def _parent(self):
        from google.cloud import aiplatform

        found = aiplatform.Model.list(filter=f'display_name="{self.model}"', project=self.project, location=self.region)
        return found[0] if found else None

    def champion(self) -> ModelVersion | None:
        from google.api_core.exceptions import NotFound
        from google.cloud import aiplatform

        parent = self._parent()
        if parent is None:
            return None
        try:
            model = aiplatform.Model(f"{parent.resource_name}@{CHAMPION}")
        except NotFound:
            return None
        return ModelVersion(
            version=model.version_id,
            artifacts=model.uri,
            metrics=json.loads(model.version_description or "{}"),
            created=model.version_create_time.isoformat(),
        )

    def register(self, artifacts: Path, metrics: dict, *, promote: bool) -> ModelVersion:
        from google.cloud import aiplatform, storage

        prefix = f"{self.model}/{datetime.now(UTC):%Y%m%dT%H%M%S}"
        bucket = storage.Client(project=self.project).bucket(self.bucket)
        for file in sorted(p for p in artifacts.rglob("*") if p.is_file()):
            bucket.blob(f"{prefix}/{file.relative_to(artifacts)}").upload_from_filename(file)
        parent = self._parent()
        model = aiplatform.Model.upload(
            display_name=self.model,
            parent_model=parent.resource_name if parent else None,
            artifact_uri=f"gs://{self.bucket}/{prefix}",
            serving_container_image_uri=self.SERVING_IMAGE,
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

    def fetch(self, version: ModelVersion) -> Path:
        from google.cloud import storage

        bucket_name, _, prefix = version.artifacts.removeprefix("gs://").partition("/")
        target = Path(tempfile.mkdtemp(prefix="model-"))
        for blob in storage.Client(project=self.project).list_blobs(bucket_name, prefix=f"{prefix}/"):
            destination = target / blob.name.removeprefix(f"{prefix}/")
            destination.parent.mkdir(parents=True, exist_ok=True)
            blob.download_to_filename(destination)
        return target


def open_registry(uri: str) -> Registry:
    """A folder path, or `vertex://<project>/<region>/<model>`."""
    if uri.startswith("vertex://"):
        parts = uri.removeprefix("vertex://").split("/")
        if len(parts) != 3 or not all(parts):
            raise ValueError(f"registry {uri!r}: expected vertex://<project>/<region>/<model>")
        return VertexRegistry(*parts)
    return LocalRegistry(Path(uri))
