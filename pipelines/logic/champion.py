"""The one way every step reads the champion: evaluation, batch prediction, drift monitoring, the
predict function and the dashboard. Kept apart from promotion.py so that serving ships only this."""

from __future__ import annotations

import shutil
from pathlib import Path

from pipelines.logic.model import SERVING_FILES, TRAINING_DATA_FILE, Forecaster
from pipelines.logic.parameters import shown
from pipelines.logic.registry import ModelVersion, Registry, RegistryError
from pipelines.logic.spec import DataSpec


class SpecMismatch(RegistryError):
    """A champion met data of another spec: it is only compared with (and scores) its own."""


def load_champion(
    registry: Registry, *, training_data: bool = False, current: ModelVersion | None = None
) -> tuple[ModelVersion, Forecaster] | None:
    """The champion version and its forecaster (with its training data when asked), or None
    without a champion; BrokenChampion when the pointer names no complete version. `current` is
    the champion when the caller has just read it. A downloaded copy is deleted once loaded; a
    local registry's own folder is left alone."""
    current = current or registry.champion()
    if current is None:
        return None
    files = (*SERVING_FILES, TRAINING_DATA_FILE) if training_data else SERVING_FILES
    folder = registry.fetch(current, files)
    try:
        forecaster = Forecaster.load(folder, training_data=training_data)
    finally:
        if folder != Path(current.artifacts):
            shutil.rmtree(folder, ignore_errors=True)
    return current, forecaster


def spec_differences(champion: DataSpec, spec: DataSpec) -> str:
    """Each key where `spec` differs from the champion's, with both values ("" when none differs)."""
    ours, theirs = spec.to_dict(), champion.to_dict()
    return ", ".join(
        f"{key} {shown(value)} (champion: {shown(theirs.get(key))})"
        for key, value in ours.items()
        if value != theirs.get(key)
    )
