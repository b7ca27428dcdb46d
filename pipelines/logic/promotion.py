"""Evaluation against the champion and registration through the gate, as one compare-and-swap.

A training run scores its challenger against the champion it reads at evaluation (`evaluate`),
the gate decides, and `register` records the version. Between evaluation and registration another
run may have moved the champion. `register` therefore decides again at the moment the alias moves
(under the local registry's lock; on Vertex AI after re-reading the alias): when the champion is
still the one evaluated, the gate's decision stands; when it changed, the challenger is re-scored
against the new champion on the same holdout, with the same metric and margin, and the gate
decides again. So concurrent runs end with the champion some serial order of the same runs would
give. When neither of two runs beats the other by the margin, both serial orders keep whichever
registered first, so either is a correct outcome.

A champion pointer that names no complete version counts as no champion (with a warning); the
registration then heals it (see registry.py).
"""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from pipelines.logic.evaluation import evaluate_on_holdout, seasonal_naive, split_holdout
from pipelines.logic.evaluation import metrics as score
from pipelines.logic.gate import decide
from pipelines.logic.model import Forecaster
from pipelines.logic.registry import BrokenChampion, ModelVersion, Registry
from pipelines.logic.spec import DataSpec

log = logging.getLogger(__name__)


def current_champion(registry: Registry) -> ModelVersion | None:
    """The champion, or None when there is none or its pointer is broken."""
    try:
        return registry.champion()
    except BrokenChampion as error:
        log.warning("%s; treated as no champion", error)
        return None


def champion_scores(registry: Registry, version: ModelVersion, series: pd.DataFrame, holdout) -> dict:
    return evaluate_on_holdout(Forecaster.load(registry.fetch(version)), series, holdout)


def evaluate(registry: Registry, model_dir: Path, series: pd.DataFrame, spec: DataSpec, holdout_days: int) -> dict:
    """Challenger, champion and seasonal-naive baseline on the same time-ordered holdout."""
    _, holdout = split_holdout(series, spec, holdout_days)
    challenger = evaluate_on_holdout(Forecaster.load(model_dir), series, holdout)
    baseline = score(series.loc[holdout, spec.target_column].to_numpy(), seasonal_naive(series, spec, holdout))
    current = current_champion(registry)
    return {
        "challenger": challenger,
        "baseline": baseline,
        "champion": champion_scores(registry, current, series, holdout) if current else None,
        "champion_version": current.version if current else None,
    }


def register(
    registry: Registry,
    model_dir: Path,
    evaluation: dict,
    *,
    promote: bool,
    reason: str,
    series: pd.DataFrame,
    spec: DataSpec,
    holdout_days: int,
    metric: str,
    margin: float,
    recorded: dict | None = None,
) -> ModelVersion:
    """Register the challenger; `promote`/`reason` are the gate's decision at evaluation, kept when
    the champion has not changed since, otherwise decided again against the new champion.
    `recorded` is kept with the version's metrics (e.g. the daily cycle's day)."""
    evaluated = evaluation["champion_version"]

    def decide_now(current: ModelVersion | None) -> tuple[bool, dict]:
        now = current.version if current else None
        if now == evaluated:
            final_promote, final_reason = promote, reason
        else:
            _, holdout = split_holdout(series, spec, holdout_days)
            rescored = champion_scores(registry, current, series, holdout) if current else None
            decision = decide(evaluation["challenger"], rescored, evaluation["baseline"], metric=metric, margin=margin)
            final_promote = decision.promote
            final_reason = f"{decision.reason} (re-scored: the champion changed from {evaluated} to {now} meanwhile)"
        return final_promote, {"promoted": final_promote, "reason": final_reason, "previous_champion": now}

    metrics = {"holdout": evaluation["challenger"], "baseline": evaluation["baseline"]} | (recorded or {})
    return registry.register(model_dir, metrics, decide=decide_now)
