"""Scoring: each day's forecasts against the actuals that arrived, per model version, next to the
naive rules, and the sustained degradation that triggers retraining.

The naive rules are the platform's baselines: `naive_daily` (the same period one day earlier) and
`naive_weekly` (one week earlier, the gate's seasonal-naive baseline). A day's scores are one row
per model version that forecast it, each with the naive rules' errors on the same day.

Degradation: the champion's MAE above `ratio` times the better naive rule's MAE, on each of the
last `days` scored days. One bad day is noise; a run of them says the model no longer fits.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import pandas as pd

from pipelines.logic.collection import day_bounds
from pipelines.logic.cycle_store import CycleStore
from pipelines.logic.evaluation import point_scores
from pipelines.logic.spec import DataSpec

NAIVE_RULES = {"naive_daily": 1, "naive_weekly": 7}  # rule -> days back


class NotScorable(Exception):
    """The day cannot be scored yet: its actuals or the forecasts of it are missing."""


def score_day(store: CycleStore, series: pd.DataFrame, day: date, spec: DataSpec) -> pd.DataFrame:
    """Score `day` (forecasts issued at the end of the day before) and keep the scores; a day
    scored before is read back, not scored again."""
    path = store.scores_path(day)
    if store.exists(path):
        return store.read_frame(path)
    start, end = day_bounds(day)
    actual = series.loc[(series.index >= start) & (series.index < end), spec.target_column]
    if len(actual) != spec.periods_per_day:
        raise NotScorable(f"{day}: {len(actual)} of {spec.periods_per_day} actuals collected; nothing scored")
    origin = day - timedelta(days=1)
    forecasts = [
        store.read_frame(p) for p in store.list(f"forecasts/origin={origin.isoformat()}") if p.endswith(".parquet")
    ]
    if not forecasts:
        raise NotScorable(f"{day}: no forecasts were issued for it (origin {origin}); nothing scored")
    naive = {}
    for rule, days_back in NAIVE_RULES.items():
        earlier = series[spec.target_column].reindex(actual.index - pd.Timedelta(days=days_back)).to_numpy()
        naive[rule] = point_scores(actual.to_numpy(), earlier)["mae"] if not np.isnan(earlier).any() else float("nan")
    rows = []
    for frame in forecasts:
        aligned = frame.set_index(pd.DatetimeIndex(frame[spec.timestamp_column]))["forecast"].reindex(actual.index)
        scores = point_scores(actual.to_numpy(), aligned.to_numpy())
        rows.append(
            {
                "day": day.isoformat(),
                "model_version": str(frame["model_version"].iloc[0]),
                "mae": scores["mae"],
                "mape": scores["mape"],
                **{f"{rule}_mae": value for rule, value in naive.items()},
            }
        )
    table = pd.DataFrame(rows)
    store.write_frame(path, table)
    return table


@dataclass(frozen=True)
class Degradation:
    degraded: bool
    reason: str


def degradation(scores: pd.DataFrame, champion: str, *, ratio: float, days: int) -> Degradation:
    """Whether the champion's error stayed above `ratio` times the better naive rule's for the last
    `days` scored days of the champion (fewer scored days: not degraded)."""
    if scores.empty:
        return Degradation(False, "no scored days yet")
    mine = scores[scores["model_version"] == champion].sort_values("day").tail(days)
    if len(mine) < days:
        return Degradation(False, f"{len(mine)} of {days} days scored for version {champion}")
    naive = mine[[f"{rule}_mae" for rule in NAIVE_RULES]].min(axis=1)
    above = mine["mae"].to_numpy() > ratio * naive.to_numpy()
    if above.all():
        return Degradation(
            True,
            f"version {champion}'s MAE exceeded {ratio:g} x the better naive rule's on each of the last {days} days",
        )
    return Degradation(
        False, f"version {champion} within {ratio:g} x the naive rules on {int((~above).sum())} of the last {days} days"
    )
