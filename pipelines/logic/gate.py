"""The champion/challenger gate: a challenger replaces the champion only when it is clearly better."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from pipelines.logic.evaluation import Evaluation


@dataclass(frozen=True)
class Decision:
    promote: bool
    reason: str
    metric: str
    challenger: float
    champion: float | None
    baseline: float
    baseline_rule: str

    def to_dict(self) -> dict:
        return asdict(self)


def decide(evaluation: Evaluation, *, metric: str = "mae", margin: float = 0.01) -> Decision:
    """Promote when the challenger beats the better of the daily and weekly naive rules and, if
    there is a champion, the champion, each by at least `margin` (relative: 0.01 = 1 % lower
    error), all on the same backtest folds."""
    score = evaluation.challenger_scores().metric(metric)
    rule, baseline = evaluation.baseline(metric)
    base = baseline.metric(metric)
    champion = evaluation.champion_scores()
    current = champion.metric(metric) if champion else None
    name = f"challenger ({evaluation.challenger}) {metric} {score:.2f}"

    def decision(promote: bool, reason: str) -> Decision:
        return Decision(promote, reason, metric, score, current, base, rule)

    if score > base * (1 - margin):
        return decision(False, f"{name} is not {margin:.0%} better than the {rule} rule {base:.2f}")
    if current is None:
        return decision(True, f"no champion yet; {name} beats the {rule} rule {base:.2f} by more than {margin:.0%}")
    required = current * (1 - margin)
    if score <= required:
        return decision(True, f"{name} beats champion {current:.2f} by more than {margin:.0%}")
    return decision(False, f"{name} is not {margin:.0%} better than champion {current:.2f} (needs <= {required:.2f})")
