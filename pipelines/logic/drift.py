"""Drift on seasonal series: recent inputs against the champion's training data, like with like.

A demand series changes through the day and the week, so comparing raw distributions flags any
window that covers other days or hours than the reference (the reference's own last two weeks
drifted by that measure). Here each monitored column (the target and the exogenous inputs) is
compared with its seasonal baseline: the mean of the same slot (day of week and period of day)
over the reference's last `BASELINE_WEEKS` weeks. A column's level change is the median of
(current - baseline) over the window, relative to the baseline's mean magnitude.

A column drifted when its level moved further than the reference itself ever moved in a week:
the tolerance is the largest weekly level change within the reference (each week against the
`BASELINE_WEEKS` before it), and at least `MIN_TOLERANCE`. On the reference dataset its own last
14 days change by about 3 % (tolerance about 5 %); the same days shifted by 10 % change by about
14 %. The drift share is the share of monitored columns that drifted.

Drift asks for retraining (`exceeds`) when the share is above the threshold, or when the target
itself drifted: its level is what every forecast carries, so with known-in-advance columns beside
it (where one drifted column of three is a share of 0.33) a target that moved still counts. A
threshold of 1 turns drift retraining off (no share is above it, and the target rule yields).
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass

import numpy as np
import pandas as pd

from pipelines.logic.data import DataSpec

BASELINE_WEEKS = 4
MIN_TOLERANCE = 0.03  # level changes below 3 % are never drift (weather, holidays)


@dataclass(frozen=True)
class DriftResult:
    share: float  # share of monitored columns that drifted
    drifted: list[str]
    columns: list[str]  # the target first (`target`), then the exogenous columns
    changes: dict[str, float]  # each column's level change against its seasonal baseline
    tolerances: dict[str, float]  # the largest weekly change of each column within the reference

    @property
    def target(self) -> str:
        return self.columns[0]

    @classmethod
    def from_json(cls, text: str) -> DriftResult:
        """The result `json` wrote (its changes list every column, the target first)."""
        found = json.loads(text)
        return cls(found["share"], found["drifted"], list(found["changes"]), found["changes"], found["tolerances"])

    def exceeds(self, threshold: float) -> bool:
        """Retrain: the drift share is above `threshold`, or the target drifted while drift
        retraining is on (`threshold` below 1; module docstring)."""
        return self.share > threshold or (threshold < 1 and self.target in self.drifted)

    def reason(self, threshold: float) -> str:
        """Why drift asks for retraining (`exceeds`), with the drifted columns' moves."""
        if self.share > threshold:
            return f"drift share {self.share:.2f} above {threshold:g} ({self.moves()})"
        return f"the target drifted ({self.moves()}; drift share {self.share:.2f}, threshold {threshold:g})"

    def moves(self) -> str:
        """The drifted columns' moves in words: `demand's level -5.1%, tolerance 4.7%`."""
        return "; ".join(
            f"{column}'s level {self.changes[column]:+.1%}, tolerance {self.tolerances[column]:.1%}"
            for column in self.drifted
        )

    @property
    def json(self) -> str:
        return json.dumps(
            {"share": self.share, "drifted": self.drifted, "changes": self.changes, "tolerances": self.tolerances},
            indent=2,
        )

    @property
    def html(self) -> str:
        rows = "".join(
            f"<tr><td>{html.escape(c)}</td><td>{self.changes[c]:+.1%}</td><td>{self.tolerances[c]:.1%}</td>"
            f"<td>{'drifted' if c in self.drifted else 'ok'}</td></tr>"
            for c in self.columns
        )
        return (
            "<!doctype html><html><head><meta charset='utf-8'><title>Drift report</title></head><body>"
            f"<h1>Drift: {self.share:.0%} of monitored columns</h1>"
            "<p>Level change of recent inputs against the same day-of-week and period-of-day slots of the "
            f"reference's last {BASELINE_WEEKS} weeks; tolerance: the reference's largest weekly change.</p>"
            "<table><tr><th>column</th><th>level change</th><th>tolerance</th><th>verdict</th></tr>"
            f"{rows}</table></body></html>"
        )


def _slots(index: pd.DatetimeIndex) -> pd.MultiIndex:
    return pd.MultiIndex.from_arrays([index.dayofweek, index.hour * 60 + index.minute], names=["day", "minute"])


def level_change(current: pd.Series, base: pd.Series) -> float:
    """Median of (current - seasonal baseline from `base`), relative to the baseline's magnitude."""
    profile = base.groupby(_slots(base.index)).mean()
    expected = profile.reindex(_slots(current.index)).to_numpy()
    known = ~np.isnan(expected) & ~np.isnan(current.to_numpy())
    scale = float(np.abs(profile).mean())
    if not known.any() or scale == 0:
        return 0.0
    return float(np.median(current.to_numpy()[known] - expected[known]) / scale)


def _tolerance(reference: pd.Series, per_week: int) -> float:
    """The largest weekly level change within the reference, at least MIN_TOLERANCE."""
    starts = range(BASELINE_WEEKS * per_week, len(reference) - per_week + 1, per_week)
    changes = [
        abs(level_change(reference.iloc[i : i + per_week], reference.iloc[i - BASELINE_WEEKS * per_week : i]))
        for i in starts
    ]
    return max([MIN_TOLERANCE, *changes])


def detect_drift(reference: pd.DataFrame, current: pd.DataFrame, spec: DataSpec) -> DriftResult:
    """Each monitored column of `current` (validated, indexed by timestamp) against its seasonal
    baseline from `reference` (the champion's training data)."""
    per_week = 7 * spec.periods_per_day
    columns = [spec.target_column, *spec.exogenous_columns]
    changes, tolerances = {}, {}
    for column in columns:
        history = reference[column].dropna()
        changes[column] = round(level_change(current[column].dropna(), history.iloc[-BASELINE_WEEKS * per_week :]), 4)
        tolerances[column] = round(_tolerance(history, per_week), 4)
    drifted = sorted(c for c in columns if abs(changes[c]) > tolerances[c])
    return DriftResult(len(drifted) / len(columns), drifted, columns, changes, tolerances)
