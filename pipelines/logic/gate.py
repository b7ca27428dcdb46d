"""The champion/challenger gate: a challenger replaces the champion only when it is clearly better."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Decision:
    promote: bool
    reason: str
    metric: str
    challenger: float
    champion: float | None
    baseline: float

    def to_dict(self) -> dict:
        return asdict(self)


def decide(
    challenger: dict[str, float],
    champion: dict[str, float] | None,
    baseline: dict[str, float],
    *,
    metric: str = "mae",
    margin: float = 0.01,
) -> Decision:
    """Promote when the challenger beats the seasonal-naive baseline and, if there is a champion,
    beats it on the same holdout by at least `margin` (relative: 0.01 = 1 % lower error)."""
    score, base = challenger[metric], baseline[metric]
    current = champion[metric] if champion else None
    if score >= base:
        return Decision(
            False,
            f"challenger {metric} {score:.2f} does not beat the seasonal-naive baseline {base:.2f}",
            metric,
            score,
            current,
            base,
        )
    if current is None:
        return Decision(
            True,
            f"no champion yet; challenger {metric} {score:.2f} beats the baseline {base:.2f}",
            metric,
            score,
            None,
            base,
        )
    required = current * (1 - margin)
    if score <= required:
        return Decision(
            True,
            f"challenger {metric} {score:.2f} beats champion {current:.2f} by more than {margin:.0%}",
            metric,
            score,
            current,
            base,
        )
    return Decision(
        False,
        f"challenger {metric} {score:.2f} is not {margin:.0%} better than champion {current:.2f} "
        f"(needs <= {required:.2f})",
        metric,
        score,
        current,
        base,
    )
