"""Data drift between the champion's training data and recent inputs, with Evidently."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from pipelines.logic.data import DataSpec
from pipelines.logic.features import CALENDAR_FEATURES, build_features


@dataclass(frozen=True)
class DriftResult:
    share: float  # share of monitored columns that drifted
    drifted: list[str]
    columns: list[str]
    html: str
    json: str

    def exceeds(self, threshold: float) -> bool:
        return self.share > threshold


def monitored_frame(series: pd.DataFrame, spec: DataSpec) -> pd.DataFrame:
    """The target, exogenous inputs and history features; calendar features are left out (their
    distribution only reflects which days a window covers)."""
    features = build_features(series, spec).drop(columns=list(CALENDAR_FEATURES))
    frame = pd.concat([series[[spec.target_column]], features.drop(columns=list(spec.exogenous_columns))], axis=1)
    return frame.dropna().reset_index(drop=True)


def detect_drift(reference: pd.DataFrame, current: pd.DataFrame, spec: DataSpec) -> DriftResult:
    from evidently import Report
    from evidently.presets import DataDriftPreset

    reference_frame, current_frame = monitored_frame(reference, spec), monitored_frame(current, spec)
    snapshot = Report([DataDriftPreset()]).run(current_data=current_frame, reference_data=reference_frame)
    results = snapshot.dict()["metrics"]
    drifted_count = next(m for m in results if m["metric_name"].startswith("DriftedColumnsCount"))
    drifted = [m["config"]["column"] for m in results if m["config"]["type"].endswith("ValueDrift") and _drifted(m)]
    return DriftResult(
        share=float(drifted_count["value"]["share"]),
        drifted=sorted(drifted),
        columns=list(current_frame.columns),
        html=snapshot.get_html_str(as_iframe=False),
        json=snapshot.json(),
    )


def _drifted(metric: dict) -> bool:
    """Evidently's per-column verdict: p-value below the threshold, or distance above it."""
    value, threshold = float(metric["value"]), float(metric["config"]["threshold"])
    return value < threshold if "p_value" in metric["config"]["method"] else value >= threshold
