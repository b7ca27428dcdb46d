"""The champion, evaluation against it and registration through the gate, as one compare-and-swap.

A training run's challenger carries its backtest (every candidate and naive rule on the same
folds); `evaluate` adds the champion's scores on those folds: the champion as registered, not
refit, forecasting each fold from the data before it through the code that serves it. The gate
decides, and `register` records the version with every score. Between evaluation and
registration another run may have moved the champion. `register` therefore decides again at the
moment the alias moves (under the local registry's lock; on Vertex AI after re-reading the
alias): when the champion is still the one evaluated, the gate's decision stands; when it
changed, the new champion is scored on the same folds and the gate decides again. So concurrent
runs end with the champion some serial order of the same runs would give.

A champion pointer that names no complete version counts as no champion (with a warning); the
registration then heals it (see registry.py).
"""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from pipelines.logic.backtest import evaluate_champion
from pipelines.logic.champion import SpecMismatch, load_champion, spec_differences
from pipelines.logic.evaluation import Evaluation
from pipelines.logic.gate import Decision, decide
from pipelines.logic.model import Forecaster
from pipelines.logic.registry import BrokenChampion, ModelVersion, Registry

log = logging.getLogger(__name__)


def current_champion(registry: Registry) -> ModelVersion | None:
    """The champion version, or None when there is none or its pointer is broken."""
    try:
        return registry.champion()
    except BrokenChampion as error:
        log.warning("%s; treated as no champion", error)
        return None


def readable_champion(registry: Registry) -> tuple[ModelVersion, Forecaster] | None:
    """The champion for a training run: None when there is none, or its pointer is broken, or its
    saved form is one this code cannot read (then any challenger that beats the naive rules wins)."""
    try:
        return load_champion(registry)
    except BrokenChampion as error:
        log.warning("%s; treated as no champion", error)
    except ValueError as error:
        log.warning("champion not readable (%s); treated as no champion", error)
    return None


def evaluate(registry: Registry, model_dir: Path, series: pd.DataFrame) -> Evaluation:
    """The challenger's backtest with the current champion scored on the same folds."""
    challenger = Forecaster.load(model_dir)
    champion = readable_champion(registry)
    if champion is None:
        return Evaluation.from_dict(challenger.backtest).with_champion(None, None)
    version, forecaster = champion
    if differences := spec_differences(forecaster.spec, challenger.spec):
        raise SpecMismatch(
            f"the champion (version {version.version}) was trained on another data spec: {differences}; a "
            "champion is only compared with challengers of its own spec: expected the champion's spec, or "
            "another model (registry_uri; left unset, it is the model of the run's source and spec)"
        )
    return evaluate_champion(challenger, series, forecaster, version.version)


def version_metrics(evaluation: Evaluation, decision: Decision) -> dict:
    """What a version records: the challenger's backtest scores (`holdout`), the better naive
    rule's (`baseline`), every method's on the same folds, and the gate's decision."""
    baseline_name, baseline = evaluation.baseline(decision.metric)
    return {
        "family": evaluation.challenger,
        "holdout": evaluation.challenger_scores().__dict__,
        "baseline": baseline.__dict__ | {"rule": baseline_name},
        "backtest": evaluation.to_dict(),
    }


def register(
    registry: Registry,
    model_dir: Path,
    evaluation: Evaluation,
    *,
    promote: bool,
    reason: str,
    series: pd.DataFrame,
    metric: str,
    margin: float,
    recorded: dict | None = None,
) -> ModelVersion:
    """Register the challenger; `promote`/`reason` are the gate's decision at evaluation, kept when
    the champion has not changed since, otherwise decided again with the new champion scored on the
    same folds. `recorded` is kept with the version's metrics (e.g. the daily cycle's day)."""

    def decide_now(current: ModelVersion | None) -> tuple[bool, dict]:
        now = current.version if current else None
        scored = evaluation
        if now != evaluation.champion_version:
            champion = readable_champion(registry)
            scored = evaluation.with_champion(None, None)
            if champion is not None:
                scored = evaluate_champion(Forecaster.load(model_dir), series, champion[1], champion[0].version)
        decision = decide(scored, metric=metric, margin=margin)
        final_promote, final_reason = promote, reason
        if now != evaluation.champion_version:
            final_promote = decision.promote
            changed = f"the champion changed from {evaluation.champion_version} to {now} meanwhile"
            final_reason = f"{decision.reason} (re-scored: {changed})"
        kept = {"promoted": final_promote, "reason": final_reason, "previous_champion": now} | (recorded or {})
        return final_promote, version_metrics(scored, decision) | kept

    return registry.register(model_dir, {}, decide=decide_now)
