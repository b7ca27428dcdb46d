"""The daily cycle, as plain steps for one day `day` (the day whose observations arrive):

    collect   bring `day`'s observations into the store (collection.py)
    score     score the forecasts issued for `day` against its actuals, next to the naive rules
    check     drift of the recent days against the champion's training data, and sustained
              degradation of the champion's accuracy (scoring.py): either one asks for retraining
    retrain   when asked: train a challenger and register it; it is promoted only through the gate
    forecast  the champion's forecast of the next day, kept with its model version and origin

Composer's DAG (pipelines/dags/daily_cycle.py), the scheduler's path and `make simulate` call these
same functions. Each step is idempotent for its day: what it wrote is read back, not redone, so a
retried task or a redelivered firing does no work twice, and a missed day can be run later
(backfilled) by naming it.

The settings come from the environment's `cycle:` (environments/schema.py) through `CycleConfig`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date, timedelta

import pandas as pd

from pipelines.logic import cycle_models
from pipelines.logic.collection import (
    Collected,
    DropSource,
    HttpSource,
    ReplaySource,
    Source,
    collect,
    history,
)
from pipelines.logic.cycle_settings import TUNING, daily_parameters
from pipelines.logic.cycle_store import CycleStore, store_root
from pipelines.logic.data import load_reference, read_source
from pipelines.logic.forecast import short_history
from pipelines.logic.registry import open_registry
from pipelines.logic.scoring import NAIVE_RULES, NotScorable, degradation, score_day
from pipelines.logic.spec import REFERENCE, DataSpec

STEPS = ("collect", "score", "check", "retrain", "forecast")


@dataclass(frozen=True)
class CycleConfig:
    """Everything a step needs, as plain values (a DAG's settings file, a pipeline parameter)."""

    store_root: str
    registry_uri: str
    source: dict  # environments.schema.CycleSource as a dict, plus `bucket` for kind drop; locally also kind file
    data_spec: dict = field(default_factory=lambda: DataSpec().to_dict())
    degradation_ratio: float = 1.0
    degradation_days: int = 3
    drift_threshold: float = 0.5
    drift_window_days: int = 7
    holdout_days: int = 7
    metric: str = "mae"
    promotion_margin: float = 0.01

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> CycleConfig:
        return cls(**values)

    @classmethod
    def from_parameters(cls, parameters: dict) -> CycleConfig:
        """From the `daily` pipeline's parameters (pipelines/logic/parameters.py): the store follows
        from the registry, the source from `source` and `source_url`."""
        source, url = parameters["source"], parameters.get("source_url", "")
        if url:
            described = {"kind": "http", "url": url}
        elif source == REFERENCE:
            described = {"kind": "reference"}
        elif source.startswith("gs://"):
            bucket, _, prefix = source.removeprefix("gs://").partition("/")
            described = {"kind": "drop", "bucket": bucket, "prefix": prefix.rstrip("/") + "/"}
        else:  # a local run's CSV, replayed a day at a time as the reference is
            described = {"kind": "file", "path": source}
        return cls(
            store_root=store_root(parameters["registry_uri"]),
            registry_uri=parameters["registry_uri"],
            source=described,
            **{name: parameters[name] for name in TUNING if name in parameters},
        )

    @classmethod
    def for_environment(cls, environment) -> CycleConfig:
        """The deployed cycle of an environment (environments.schema.Environment)."""
        return cls.from_parameters(daily_parameters(environment))

    @property
    def spec(self) -> DataSpec:
        return DataSpec.from_dict(self.data_spec)

    @property
    def store(self) -> CycleStore:
        return CycleStore(self.store_root)


def source_of(config: CycleConfig) -> Source:
    kind = config.source.get("kind", "reference")
    if kind == "http":
        return HttpSource(config.source["url"])
    if kind == "drop":
        return DropSource(config.source["bucket"], config.source.get("prefix", "incoming/"))
    if kind == "file":
        return ReplaySource(read_source(config.source["path"]), config.spec, name=config.source["path"])
    return ReplaySource(load_reference(), config.spec, name="reference")


# The steps. Each takes the config and the day, and returns a JSON-ready summary.


def collect_step(config: CycleConfig, day: date, source: Source | None = None) -> dict:
    result: Collected = collect(config.store, source or source_of(config), day, config.spec)
    return {"day": day.isoformat(), "rows": result.rows, "already": result.already}


def score_step(config: CycleConfig, day: date) -> dict:
    spec = config.spec
    try:
        scores = score_day(config.store, history(config.store, spec, through=day), day, spec)
    except NotScorable as reason:
        return {"day": day.isoformat(), "scored": False, "reason": str(reason)}
    return {"day": day.isoformat(), "scored": True, "scores": scores.to_dict("records")}


def check_step(config: CycleConfig, day: date) -> dict:
    """Drift and degradation of the champion on `day`; kept, so a rerun reads the same verdict."""
    store, spec = config.store, config.spec
    path = store.checks_path(day)
    if store.exists(path):
        return store.read_json(path)
    registry = open_registry(config.registry_uri)
    champion = cycle_models.champion(registry)
    verdict = {"day": day.isoformat(), "champion": champion.version if champion else None}
    if champion is None:
        verdict |= {"drift_share": None, "drifted": [], "degraded": False, "retrain": True, "reason": "no champion"}
    else:
        series = history(store, spec, through=day)
        window = config.drift_window_days * spec.periods_per_day  # drift compares levels: no feature history
        drift = cycle_models.champion_drift(registry, champion, series.iloc[-window:])
        share, drifted = drift.share, drift.drifted
        worse = degradation(
            store.scores(), champion.version, ratio=config.degradation_ratio, days=config.degradation_days
        )
        reasons = [drift.reason(config.drift_threshold)] if drift.exceeds(config.drift_threshold) else []
        reasons += [worse.reason] if worse.degraded else []
        verdict |= {
            "drift_share": share,
            "drifted": drifted,
            "degraded": worse.degraded,
            "retrain": bool(reasons),
            "reason": "; ".join(reasons) or worse.reason,
        }
    store.write_json(path, verdict)
    return verdict


def retrain_step(config: CycleConfig, day: date) -> dict:
    """Retrain when the day's check asked for it; the outcome is kept with the check."""
    store = config.store
    path = store.retraining_path(day)
    if store.exists(path):
        return store.read_json(path)
    verdict = check_step(config, day)
    if not verdict["retrain"]:
        return {"day": day.isoformat(), "retrained": False}
    registry = open_registry(config.registry_uri)
    series = history(store, config.spec, through=day)
    # Not kept: once more days are collected (a backfill), the same day may retrain.
    if problem := cycle_models.too_short_to_retrain(series, config.spec, config.holdout_days):
        return {"day": day.isoformat(), "retrained": False, "reason": problem}
    # A retry after the version was registered but before the outcome was kept finds that version.
    result = cycle_models.retrained_for(registry, day.isoformat()) or cycle_models.retrain(
        registry,
        series,
        config.spec,
        holdout_days=config.holdout_days,
        metric=config.metric,
        margin=config.promotion_margin,
        day=day.isoformat(),
    )
    outcome = {
        "day": day.isoformat(),
        "retrained": True,
        "version": result.version,
        "promoted": result.promoted,
        "reason": result.reason,
    }
    store.write_json(path, outcome)
    return outcome


def forecast_step(config: CycleConfig, day: date) -> dict:
    """The champion's forecast of the day after `day`, from the observations through `day`."""
    store, spec = config.store, config.spec
    champion = cycle_models.champion(open_registry(config.registry_uri))
    if champion is None:
        return {"origin": day.isoformat(), "forecast": False, "reason": "no champion yet"}
    path = store.forecasts_path(day, champion.version)
    if store.exists(path):
        return {"origin": day.isoformat(), "forecast": True, "model_version": champion.version, "already": True}
    series = history(store, spec, through=day)
    if series.empty or series.index[-1] != pd.Timestamp(day) + pd.Timedelta(days=1) - pd.Timedelta(spec.frequency):
        return {"origin": day.isoformat(), "forecast": False, "reason": f"{day} is not fully collected"}
    if problem := short_history(len(series), spec):  # a cycle's first week
        return {"origin": day.isoformat(), "forecast": False, "reason": f"through {day}, {problem}"}
    frame = cycle_models.forecast_next_day(open_registry(config.registry_uri), champion, series)
    frame["model_version"] = champion.version
    frame["origin"] = day.isoformat()
    store.write_frame(path, frame)
    return {"origin": day.isoformat(), "forecast": True, "model_version": champion.version, "already": False}


@dataclass(frozen=True)
class DayReport:
    day: date
    collected: dict
    scored: dict
    check: dict
    retraining: dict
    forecast: dict
    champion_before: str | None
    champion_after: str | None

    def errors(self) -> tuple[float | None, float | None]:
        """The champion's MAE on the day and the better naive rule's."""
        rows = self.scored.get("scores", []) if self.scored.get("scored") else []
        mine = [row for row in rows if row["model_version"] == self.champion_before]
        if not mine:
            return None, None
        naive = min(mine[0][f"{rule}_mae"] for rule in NAIVE_RULES)
        return mine[0]["mae"], naive


def run_day(config: CycleConfig, day: date, source: Source | None = None) -> DayReport:
    """Every step for `day`, in order. CollectionError (late or bad data) stops the day before
    anything else runs: scoring, checks and forecasts need the day's observations."""
    before = cycle_models.champion(open_registry(config.registry_uri))
    collected = collect_step(config, day, source)
    scored = score_step(config, day)
    verdict = check_step(config, day)
    retraining = retrain_step(config, day)
    forecast = forecast_step(config, day)
    after = cycle_models.champion(open_registry(config.registry_uri))
    return DayReport(
        day,
        collected,
        scored,
        verdict,
        retraining,
        forecast,
        before.version if before else None,
        after.version if after else None,
    )


def previous_day(logical: date) -> date:
    """The day a run at `logical` collects: the day before (its observations are complete)."""
    return logical - timedelta(days=1)
