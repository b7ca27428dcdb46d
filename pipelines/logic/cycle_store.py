"""Where the daily cycle keeps what it collects, forecasts, scores and decides: the one owner of
that layout, under a root per model (`store_root`): a local folder (`build/cycle/<model>/`) or
`gs://<data bucket>/cycle/<model>`.

    observations/day=YYYY-MM-DD/observations.parquet      the day's collected rows (timestamp, target)
    forecasts/origin=YYYY-MM-DD/version=V/forecasts.parquet  forecasts issued at the end of `origin`
                                                          for the next day: timestamp, forecast,
                                                          model_version, origin
    scores/day=YYYY-MM-DD/scores.parquet                 the day's accuracy per model version and
                                                          of the naive rules
    checks/day=YYYY-MM-DD.json                           the day's drift and degradation verdict
    retraining/day=YYYY-MM-DD.json                       the day's retraining and the gate's decision

Folders are hive-style (`key=value`), so a BigQuery external table with hive partitioning (and
a user's own SQL) reads the forecasts and scores as they are. Every file is written once: a write
of a file that exists is refused (`exists` first), so a step run again for the same day changes
nothing; on GCS the write is conditional on the object not existing (if_generation_match=0).
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

    from pipelines.logic.spec import DataSpec

from environments.loading import BUILD_DIR, local_model_of
from environments.naming import bucket_name
from pipelines.logic.model_names import artifacts_prefix

OBSERVATIONS, FORECASTS, SCORES, CHECKS, RETRAINING = "observations", "forecasts", "scores", "checks", "retraining"
CYCLE_PREFIX = "cycle"  # the folder of the data bucket (and of build/) holding the cycle's files
LOCAL_CYCLE_ROOT = BUILD_DIR / CYCLE_PREFIX


def _day(value: date) -> str:
    return value.isoformat()


def store_root(registry_uri: str) -> str:
    """Where a model's cycle keeps its files: beside the model's data in the environment's data
    bucket (`gs://<project>-data/cycle/<model>`, a team's under its folder), or for a local
    registry `build/cycle/<model>` (`loading.local_model_of`: `build/cycle/forecaster` for
    build/registry): each model's cycle in a folder of its own, as in the cloud, since a store
    holds one series of one spec."""
    if not registry_uri.startswith("vertex://"):
        return str(LOCAL_CYCLE_ROOT / local_model_of(registry_uri))
    project, _, model = registry_uri.removeprefix("vertex://").split("/")
    prefix = artifacts_prefix(model)
    folder, _, name = prefix.rpartition("/")
    return f"gs://{bucket_name(project, 'data')}/{folder + '/' if folder else ''}{CYCLE_PREFIX}/{name}"


def _concat(frames: list) -> pd.DataFrame:
    import pandas as pd

    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


@dataclass(frozen=True)
class CycleStore:
    root: str  # a folder, or gs://<bucket>/<prefix>

    # Paths, relative to the root.
    @staticmethod
    def observations_path(day: date) -> str:
        return f"{OBSERVATIONS}/day={_day(day)}/observations.parquet"

    @staticmethod
    def forecasts_path(origin: date, version: str) -> str:
        return f"{FORECASTS}/origin={_day(origin)}/version={version}/forecasts.parquet"

    @staticmethod
    def scores_path(day: date) -> str:
        return f"{SCORES}/day={_day(day)}/scores.parquet"

    @staticmethod
    def checks_path(day: date) -> str:
        return f"{CHECKS}/day={_day(day)}.json"

    @staticmethod
    def retraining_path(day: date) -> str:
        return f"{RETRAINING}/day={_day(day)}.json"

    SPEC_PATH = "spec.json"  # the data spec of the one series a store holds, written with its first day

    def spec_problem(self, spec: DataSpec) -> str | None:
        """Why a day of `spec` does not belong in this store (it holds one series of one spec: its
        own, recorded with its first collected day by `record_spec`; a store from before the
        record, by its observations' columns); None when it does."""
        ours = spec.to_dict()
        if self.exists(self.SPEC_PATH):
            held = self.read_json(self.SPEC_PATH)
            if held == ours:
                return None
            differing = [
                f"{key} {held.get(key)!r} here, {ours.get(key)!r} in this run"
                for key in dict.fromkeys([*held, *ours])
                if held.get(key) != ours.get(key)
            ]
            return f"holds another series: {', '.join(differing)}"
        days = self.list(OBSERVATIONS)
        if days and (columns := list(self.read_frame(days[0]).columns)) != list(spec.columns):
            return f"holds another series: columns {columns} here, {list(spec.columns)} in this run"
        return None

    def record_spec(self, spec: DataSpec) -> None:
        """Record the store's spec with its first collected day (`spec_problem` reads it)."""
        if not self.exists(self.SPEC_PATH):
            self.write_json(self.SPEC_PATH, spec.to_dict())

    # Reading and writing.
    def exists(self, path: str) -> bool:
        if self._gcs:
            return self._bucket().blob(self._key(path)).exists()
        return (Path(self.root) / path).is_file()

    def write_frame(self, path: str, frame: pd.DataFrame) -> None:
        buffer = io.BytesIO()
        frame.to_parquet(buffer, index=False)
        self._write(path, buffer.getvalue())

    def read_frame(self, path: str) -> pd.DataFrame:
        from pipelines.logic.data import read_parquet  # not at import (pandas): the stacks read this module at synth

        return read_parquet(self._read(path))

    def write_json(self, path: str, value: dict) -> None:
        self._write(path, json.dumps(value, indent=2, sort_keys=True).encode())

    def read_json(self, path: str) -> dict:
        return json.loads(self._read(path))

    def list(self, folder: str) -> list[str]:
        """Paths of the files under `folder`, sorted (so days come in order)."""
        if self._gcs:
            prefix = self._key(folder) + "/"
            names = [blob.name for blob in self._bucket().client.list_blobs(self._bucket(), prefix=prefix)]
            return sorted(name.removeprefix(self._key("")) for name in names)
        base = Path(self.root)
        return sorted(
            str(p.relative_to(base)) for p in (base / folder).rglob("*") if p.is_file() and not p.name.startswith(".")
        )

    # Whole tables.
    def observations(self) -> pd.DataFrame:
        """Every collected row, in time order (empty before the first collection)."""
        frames = [self.read_frame(path) for path in self.list(OBSERVATIONS)]
        return _concat(frames)

    def forecasts(self) -> pd.DataFrame:
        frames = [self.read_frame(path) for path in self.list(FORECASTS)]
        return _concat(frames)

    def scores(self) -> pd.DataFrame:
        frames = [self.read_frame(path) for path in self.list(SCORES)]
        return _concat(frames)

    def checks(self) -> list[dict]:
        return [self.read_json(path) for path in self.list(CHECKS)]

    def retrainings(self) -> list[dict]:
        return [self.read_json(path) for path in self.list(RETRAINING)]

    # Storage.
    @property
    def _gcs(self) -> bool:
        return self.root.startswith("gs://")

    def _key(self, path: str) -> str:
        prefix = self.root.removeprefix("gs://").partition("/")[2].strip("/")
        return f"{prefix}/{path}" if prefix else path

    def _bucket(self):
        from google.cloud import storage

        return storage.Client().bucket(self.root.removeprefix("gs://").partition("/")[0])

    def _write(self, path: str, payload: bytes) -> None:
        if self._gcs:
            self._bucket().blob(self._key(path)).upload_from_string(payload, if_generation_match=0)
            return
        target = Path(self.root) / path
        target.parent.mkdir(parents=True, exist_ok=True)
        temporary = target.with_name(f".{target.name}.tmp")
        temporary.write_bytes(payload)
        temporary.replace(target)  # readers never see half a file

    def _read(self, path: str) -> bytes:
        if self._gcs:
            return self._bucket().blob(self._key(path)).download_as_bytes()
        return (Path(self.root) / path).read_bytes()
