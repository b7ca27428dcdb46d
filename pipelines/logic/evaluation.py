"""Forecast scores and the `Evaluation` passed from evaluation to the gate and the registry.

An evaluation holds, for one rolling-origin backtest (backtest.py), the scores of every candidate
family, of the daily and weekly naive rules and, when there is one, of the current champion, all
on the same folds; which candidate is the challenger; and which champion version was scored.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

NAIVE_RULES = ("naive_daily", "naive_weekly")  # the value one day / one week before
CHAMPION = "champion"


def point_scores(actual: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    """MAE, RMSE and MAPE (in percent; periods with a zero actual are left out of MAPE)."""
    actual, predicted = np.asarray(actual, dtype=float).reshape(-1), np.asarray(predicted, dtype=float).reshape(-1)
    errors = predicted - actual
    nonzero = actual != 0
    return {
        "mae": float(np.mean(np.abs(errors))),
        "rmse": float(np.sqrt(np.mean(errors**2))),
        "mape": float(np.mean(np.abs(errors[nonzero] / actual[nonzero])) * 100) if nonzero.any() else float("nan"),
    }


@dataclass(frozen=True)
class Scores:
    mae: float
    rmse: float
    mape: float
    coverage_80: float  # share of actuals inside the 80 % interval, in percent
    coverage_95: float
    fit_seconds: float  # CPU seconds to fit once (mean over folds; the champion: 0, it is not refit)

    def metric(self, name: str) -> float:
        return getattr(self, name)


@dataclass(frozen=True)
class Evaluation:
    folds: list[str]  # the day each fold forecasts (ISO dates), from data up to the end of the day before
    scores: dict[str, Scores]  # by method: candidate families, NAIVE_RULES, CHAMPION
    challenger: str  # the candidate family chosen
    champion_version: str | None = None
    extra: dict = field(default_factory=dict)  # e.g. what was chosen on which metric

    def challenger_scores(self) -> Scores:
        return self.scores[self.challenger]

    def champion_scores(self) -> Scores | None:
        return self.scores.get(CHAMPION)

    def baseline(self, metric: str) -> tuple[str, Scores]:
        """The better naive rule on `metric`."""
        name = min(NAIVE_RULES, key=lambda rule: self.scores[rule].metric(metric))
        return name, self.scores[name]

    def with_champion(self, version: str | None, scores: Scores | None) -> Evaluation:
        others = {k: v for k, v in self.scores.items() if k != CHAMPION}
        return Evaluation(
            self.folds, others | ({CHAMPION: scores} if scores else {}), self.challenger, version, self.extra
        )

    def to_dict(self) -> dict:
        return {
            "folds": self.folds,
            "scores": {name: asdict(s) for name, s in self.scores.items()},
            "challenger": self.challenger,
            "champion_version": self.champion_version,
            "extra": self.extra,
        }

    @classmethod
    def from_dict(cls, values: dict) -> Evaluation:
        scores = {name: Scores(**s) for name, s in values["scores"].items()}
        return cls(values["folds"], scores, values["challenger"], values["champion_version"], values.get("extra", {}))

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_dict(), indent=2))

    @classmethod
    def load(cls, path: Path) -> Evaluation:
        return cls.from_dict(json.loads(path.read_text()))
