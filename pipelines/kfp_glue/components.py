"""KFP components: thin wrappers that move artifacts in and out of the plain modules.

Each function body imports what it needs (KFP ships only the function's source). No component has
`packages_to_install`: locally they run in `.venv` (kfp.local SubprocessRunner), on Vertex AI in
the components image built from `pipelines/Dockerfile`, which installs this repository. The image is
chosen when the pipelines are compiled (`make_components(image)`).
"""

from types import SimpleNamespace
from typing import NamedTuple

from kfp import dsl
from kfp.dsl import HTML, Artifact, Dataset, Input, Metrics, Model, Output


def ingest(source: str, raw: Output[Dataset], override: str = ""):
    """Read the source (`reference`, a CSV path or gs:// URI) as it is; `override` instead when set
    (monitoring's `training_source`, which defaults to the run's own source)."""
    from pipelines.logic.data import DataValidationError, read_source

    source = override or source
    try:
        frame = read_source(source)
    except DataValidationError as error:
        raise SystemExit(f"invalid data: {error}") from None  # the message, without a traceback
    frame.to_parquet(raw.path, index=False)
    raw.metadata["source"] = source


def validate(raw: Input[Dataset], data_spec: dict, purpose: str, holdout_days: int, validated: Output[Dataset]):
    """Schema, nulls, ranges, regular timestamps, enough history: fail fast with every problem."""
    from pipelines.logic import data
    from pipelines.logic.data import DataSpec, DataValidationError, read_parquet
    from pipelines.logic.features import required_history

    spec = DataSpec.from_dict(data_spec)
    source = raw.metadata.get("source", "input")
    try:
        series = data.validate(
            read_parquet(raw.path),
            spec,
            source,
            min_history=required_history(spec, purpose, holdout_days),
            allow_future_rows=purpose == "prediction",
        )
    except DataValidationError as error:
        raise SystemExit(f"invalid data: {error}") from None  # the message, without a traceback
    series.to_parquet(validated.path)
    validated.metadata.update(
        {
            "source": source,  # what later steps' refusals name
            "rows": len(series),
            "start": str(series.index[0]),
            "end": str(series.index[-1]),
        }
    )


def features(validated: Input[Dataset], data_spec: dict, holdout_days: int, table: Output[Dataset]):
    """The backtest's folds: the last `holdout_days` whole days, each forecast from the data before it."""
    import pandas as pd

    from pipelines.logic.backtest import fold_days, fold_origins
    from pipelines.logic.data import DataSpec, read_parquet
    from pipelines.logic.model import Series

    spec = DataSpec.from_dict(data_spec)
    series = Series.of(read_parquet(validated.path), spec)
    origins = fold_origins(series, spec, holdout_days)
    pd.DataFrame({"day": fold_days(series, origins), "origin": series.timestamps[origins]}).to_parquet(table.path)
    table.metadata.update({"folds": len(origins), "first_origin": str(pd.Timestamp(series.timestamps[origins[0]]))})


def train(
    table: Input[Dataset],
    validated: Input[Dataset],
    data_spec: dict,
    model_params: dict,
    metric: str,
    model: Output[Model],
):
    """Backtest every candidate on the folds, refit the best on `metric` on all data, save it with
    its backtest, intervals and training data (the drift reference)."""
    from pathlib import Path

    from pipelines.logic.backtest import train_challenger
    from pipelines.logic.data import DataSpec, read_parquet

    folds = read_parquet(table.path)
    forecaster = train_challenger(
        read_parquet(validated.path), DataSpec.from_dict(data_spec), len(folds), model_params, metric=metric
    )
    forecaster.save(Path(model.path))
    model.metadata.update({"family": forecaster.family, "folds": len(folds)})


def evaluate(
    model: Input[Model],
    validated: Input[Dataset],
    registry_uri: str,
    evaluation: Output[Artifact],
    metrics: Output[Metrics],
):
    """Every candidate, the naive rules and the champion on the same backtest folds."""
    from pathlib import Path

    from pipelines.logic import promotion
    from pipelines.logic.data import read_parquet
    from pipelines.logic.registry import RegistryError, open_registry

    try:
        result = promotion.evaluate(open_registry(registry_uri), Path(model.path), read_parquet(validated.path))
    except RegistryError as error:
        raise SystemExit(str(error)) from None  # the reason, without a traceback
    result.save(Path(evaluation.path))
    for name, scores in result.scores.items():
        for metric, value in scores.__dict__.items():
            metrics.log_metric(f"{name}_{metric}", round(value, 4))


def gate(evaluation: Input[Artifact], metric: str, margin: float, metrics: Output[Metrics]) -> NamedTuple(
    "Gate", [("promote", bool), ("reason", str)]
):
    """Champion/challenger: promote only a challenger that beats the better naive rule and the
    champion by `margin` on the same folds."""
    from collections import namedtuple
    from pathlib import Path

    from pipelines.logic.evaluation import Evaluation
    from pipelines.logic.gate import decide

    decision = decide(Evaluation.load(Path(evaluation.path)), metric=metric, margin=margin)
    metrics.log_metric("promote", int(decision.promote))
    metrics.log_metric(f"challenger_{metric}", round(decision.challenger, 4))
    metrics.log_metric(f"baseline_{metric}", round(decision.baseline, 4))
    if decision.champion is not None:
        metrics.log_metric(f"champion_{metric}", round(decision.champion, 4))
    return namedtuple("Gate", ["promote", "reason"])(decision.promote, decision.reason)


def register(
    model: Input[Model],
    evaluation: Input[Artifact],
    validated: Input[Dataset],
    metric: str,
    margin: float,
    promote: bool,
    reason: str,
    registry_uri: str,
    experiment: str,
    serving_image: str,
) -> str:
    """Register the challenger as a new version; move the champion alias only when promoted, as a
    compare-and-swap (re-scored when the champion changed since evaluation). On Vertex AI the version
    declares `serving_image` (this very image) as its serving container, and with `experiment` the
    run's parameters and metrics are also logged to Vertex AI Experiments."""
    from pathlib import Path

    from pipelines.logic import promotion
    from pipelines.logic.data import read_parquet
    from pipelines.logic.evaluation import Evaluation
    from pipelines.logic.model import Forecaster
    from pipelines.logic.registry import VertexRegistry, open_registry

    result = Evaluation.load(Path(evaluation.path))
    registry = open_registry(registry_uri, serving_image=serving_image)
    version = promotion.register(
        registry,
        Path(model.path),
        result,
        promote=promote,
        reason=reason,
        series=read_parquet(validated.path),
        metric=metric,
        margin=margin,
    )
    print(f"registered version {version.version}: {version.metrics['reason']}")
    if experiment and isinstance(registry, VertexRegistry):
        from pipelines.ops.experiments import log_training_run, run_name

        scores = {f"{name}_{key}": value for name, s in result.scores.items() for key, value in s.__dict__.items()}
        log_training_run(
            project=registry.project,
            region=registry.region,
            experiment=experiment,
            run=run_name(registry.model, version.version),
            params=Forecaster.load(Path(model.path)).params,
            metrics=scores | {"promoted": int(version.metrics["promoted"])},
        )
    return version.version


def batch_predict(validated: Input[Dataset], registry_uri: str, horizon: int, forecasts: Output[Dataset]) -> str:
    """Forecast the periods after the input's last observation with the champion, with intervals."""
    from pipelines.logic.champion import load_champion
    from pipelines.logic.data import read_parquet
    from pipelines.logic.forecast import forecast
    from pipelines.logic.registry import RegistryError, champion_to_use, open_registry
    from pipelines.logic.spec import DataValidationError

    registry = open_registry(registry_uri)
    try:
        champion_to_use(registry, registry_uri)
        version, forecaster = load_champion(registry)
        result = forecast(forecaster, read_parquet(validated.path), horizon, validated.metadata.get("source", "input"))
    except RegistryError as error:
        raise SystemExit(str(error)) from None  # the reason, without a traceback
    except DataValidationError as error:
        raise SystemExit(f"invalid data: {error}") from None
    result["model_version"] = version.version
    result.to_csv(forecasts.path, index=False)
    forecasts.metadata.update({"model_version": version.version, "rows": len(result)})
    return version.version


def detect_drift(
    validated: Input[Dataset],
    registry_uri: str,
    threshold: float,
    report: Output[HTML],
    report_json: Output[Artifact],
    metrics: Output[Metrics],
) -> bool:
    """Seasonal level drift of recent inputs against the champion's training data (drift.py); True
    when it asks for retraining (`DriftResult.exceeds`: the share above the threshold, or the target)."""
    from pathlib import Path

    from pipelines.logic import drift
    from pipelines.logic.champion import load_champion
    from pipelines.logic.data import read_parquet
    from pipelines.logic.registry import RegistryError, champion_to_use, open_registry

    registry = open_registry(registry_uri)
    try:
        champion_to_use(registry, registry_uri)
        _, forecaster = load_champion(registry, training_data=True)
    except RegistryError as error:
        raise SystemExit(str(error)) from None  # the reason, without a traceback
    result = drift.detect_drift(forecaster.training_data, read_parquet(validated.path), forecaster.spec)
    Path(report.path).write_text(result.html)
    Path(report_json.path).write_text(result.json)
    report_json.metadata["registry_uri"] = registry_uri  # whose champion: the dashboard shows its model's
    metrics.log_metric("drift_share", round(result.share, 4))
    metrics.log_metric("drifted_columns", len(result.drifted))
    metrics.log_metric("threshold", threshold)
    return result.exceeds(threshold)


def daily_cycle(
    registry_uri: str,
    day: str,
    source: str,
    source_url: str,
    data_spec: dict,
    degradation_ratio: float,
    degradation_days: int,
    drift_threshold: float,
    drift_window_days: int,
    holdout_days: int,
    metric: str,
    promotion_margin: float,
) -> str:
    """One day of the daily cycle (pipelines/logic/cycle.py): collect, score, check, retrain through
    the gate, forecast. `day` empty: the day before the run. Each step is idempotent for its day."""
    import json
    from datetime import UTC, date, datetime

    from pipelines.logic.collection import CollectionError
    from pipelines.logic.cycle import CycleConfig, previous_day, run_day

    config = CycleConfig.from_parameters(
        {
            "registry_uri": registry_uri,
            "source": source,
            "source_url": source_url,
            "data_spec": data_spec,
            "degradation_ratio": degradation_ratio,
            "degradation_days": int(degradation_days),
            "drift_threshold": drift_threshold,
            "drift_window_days": int(drift_window_days),
            "holdout_days": int(holdout_days),
            "metric": metric,
            "promotion_margin": promotion_margin,
        }
    )
    collected = date.fromisoformat(day) if day else previous_day(datetime.now(UTC).date())
    try:
        report = run_day(config, collected)
    except CollectionError as error:
        raise SystemExit(f"collection failed: {error}") from None  # the message, without a traceback
    summary = {
        "day": collected.isoformat(),
        "champion": report.champion_after,
        "check": report.check,
        "retraining": report.retraining,
        "forecast": report.forecast,
    }
    print(json.dumps(summary, default=str))
    return json.dumps(summary, default=str)


FUNCTIONS = (ingest, validate, features, train, evaluate, gate, register, batch_predict, detect_drift, daily_cycle)


def make_components(image: str) -> SimpleNamespace:
    """The components, built on `image` (the components image; ignored by local runs)."""
    return SimpleNamespace(
        **{f.__name__: dsl.component(f, base_image=image, install_kfp_package=False) for f in FUNCTIONS}
    )
