"""`make simulate DAYS=N [SHIFT_DAY=K]`: the daily cycle over N replayed days of the reference
series, as a model of its own (`SIMULATION_MODEL`): its registry build/registry/models/simulation
and its store build/cycle/simulation (`cycle_store.store_root`), which each run starts from empty;
no other model's registry or store is touched. `make dashboard DASHBOARD_REGISTRY=build/registry/models/simulation`
shows it.

The first `WARM_UP_DAYS` of the series are collected and a first champion is trained on them
(through the gate, as any retraining). Then each replayed day runs the cycle's steps
(pipelines/logic/cycle.py) exactly as Composer or the scheduler would: collect, score, check drift
and degradation, retrain through the gate when either asks, forecast the next day. From day K on
the replayed demand is multiplied by `--shift-factor` (a level shift). One line per day, starting
with its date, then a summary. Each run starts from an empty store and registry.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from datetime import timedelta
from pathlib import Path

from environments.loading import REPO_ROOT, local_registry_of
from pipelines.logic import cycle_models
from pipelines.logic.collection import ReplaySource, collect, history
from pipelines.logic.cycle import CycleConfig, forecast_step, run_day
from pipelines.logic.cycle_store import store_root
from pipelines.logic.data import load_reference
from pipelines.logic.registry import open_registry

SIMULATION_MODEL = "simulation"
REGISTRY = local_registry_of(SIMULATION_MODEL)
WARM_UP_DAYS = 56  # enough for a first champion: feature warm-up, training weeks and a holdout week
DEFAULT_SHIFT_FACTOR = 1.15


def arguments(argv: list[str] | None, max_days: int) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="make simulate", description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, required=True, help=f"days to replay, 1 to {max_days}")
    parser.add_argument("--shift-day", type=int, help="the replayed day (1 to DAYS) from which demand shifts")
    parser.add_argument("--shift-factor", type=float, default=DEFAULT_SHIFT_FACTOR, help="the shift's multiplier")
    args = parser.parse_args(argv)
    if not 1 <= args.days <= max_days:
        parser.error(f"DAYS={args.days} is out of range; expected 1 to {max_days} (the reference series' length)")
    if args.shift_day is not None and not 1 <= args.shift_day <= args.days:
        parser.error(f"SHIFT_DAY={args.shift_day} is out of range; expected 1 to DAYS ({args.days})")
    if not 0.1 <= args.shift_factor <= 10:
        parser.error(f"--shift-factor {args.shift_factor:g} is out of range; expected 0.1 to 10")
    return args


def number(value: float | None) -> str:
    return "-" if value is None else f"{value:7.1f}"


def main(argv: list[str] | None = None) -> int:
    reference = load_reference()
    store = Path(store_root(str(REGISTRY)))
    config = CycleConfig(store_root=str(store), registry_uri=str(REGISTRY), source={"kind": "reference"})
    spec = config.spec
    first_day = ReplaySource(reference, spec).days[0]
    days_available = len(ReplaySource(reference, spec).days) - WARM_UP_DAYS
    args = arguments(argv, days_available)
    shift_day = first_day + timedelta(days=WARM_UP_DAYS + args.shift_day - 1) if args.shift_day else None
    source = ReplaySource(reference, spec, shift_day=shift_day, shift_factor=args.shift_factor)
    shutil.rmtree(store, ignore_errors=True)
    shutil.rmtree(REGISTRY, ignore_errors=True)
    started = time.perf_counter()

    warm_up = [first_day + timedelta(days=n) for n in range(WARM_UP_DAYS)]
    for day in warm_up:
        collect(config.store, source, day, spec)
    registry = open_registry(config.registry_uri)
    first = cycle_models.retrain(
        registry,
        history(config.store, spec),
        spec,
        holdout_days=config.holdout_days,
        metric=config.metric,
        margin=config.promotion_margin,
    )
    forecast_step(config, warm_up[-1])
    print(
        f"warm-up  {warm_up[0]} to {warm_up[-1]}: version {first.version} "
        f"{'champion' if first.promoted else 'not promoted'} ({first.reason})",
        flush=True,
    )
    shift_note = f", demand x{args.shift_factor:g} from {shift_day}" if shift_day else ""
    print(f"replaying {args.days} days{shift_note}", flush=True)
    print(f"{'date':<10}  {'champion':>8} {'MAE':>7} {'naive':>7} {'drift':>5}  events", flush=True)

    retrainings = promotions = 0
    ratios = []
    for offset in range(args.days):
        day = warm_up[-1] + timedelta(days=offset + 1)
        report = run_day(config, day, source)
        mae, naive = report.errors()
        if mae is not None and naive:
            ratios.append(mae / naive)
        events = ["level shift starts"] if day == shift_day else []
        if report.check.get("retrain"):
            events.append(f"retrain: {report.check['reason']}")
        if report.retraining.get("retrained"):
            retrainings += 1
            outcome = "promoted" if report.retraining["promoted"] else "kept champion"
            events.append(f"v{report.retraining['version']} {outcome} ({report.retraining['reason']})")
        if report.champion_after != report.champion_before:
            promotions += 1
            events.append(f"champion v{report.champion_before} -> v{report.champion_after}")
        drift = report.check.get("drift_share")
        print(
            f"{day}  {'v' + str(report.champion_before):>8} {number(mae)} {number(naive)} "
            f"{'-' if drift is None else f'{drift:5.2f}'}  {'; '.join(events)}",
            flush=True,
        )
    mean_ratio = sum(ratios) / len(ratios) if ratios else float("nan")
    champion = cycle_models.champion(registry)
    print(
        f"summary: {args.days} days, {retrainings} retrainings, {promotions} champion changes, final champion "
        f"v{champion.version if champion else '-'}; champion MAE / naive MAE averaged {mean_ratio:.2f}; "
        f"{time.perf_counter() - started:.0f} s; stored in {os.path.relpath(store, REPO_ROOT)}; "
        f"see it with `make dashboard DASHBOARD_REGISTRY={os.path.relpath(REGISTRY, REPO_ROOT)}`",
        flush=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
