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
    import pandas as pd

    from pipelines.logic import data
    from pipelines.logic.data import DataSpec, DataValidationError
    from pipelines.logic.features import required_history

    spec = DataSpec.from_dict(data_spec)
    try:
        series = data.validate(
            pd.read_parquet(raw.path),
            spec,
            raw.metadata.get("source", "input"),
            min_history=required_history(spec, purpose, holdout_days),
            allow_future_rows=purpose == "prediction",
        )
    except DataValidationError as error:
        raise SystemExit(f"invalid data: {error}") from None  # the message, without a traceback
    series.to_parquet(validated.path)
    validated.metadata.update({"rows": len(series), "start": str(series.index[0]), "end": str(series.index[-1])})


def features(validated: Input[Dataset], data_spec: dict, holdout_days: int, table: Output[Dataset]):
    """The training table: shared features, target and a time-ordered train/holdout split."""
    import pandas as pd

    from pipelines.logic.data import DataSpec
    from pipelines.logic.evaluation import split_holdout
    from pipelines.logic.features import training_rows

    spec = DataSpec.from_dict(data_spec)
    series = pd.read_parquet(validated.path)
    rows, target = training_rows(series, spec)
    _, holdout = split_holdout(series, spec, holdout_days)
    frame = rows.assign(target=target, split="train")
    frame.loc[frame.index.isin(holdout), "split"] = "holdout"
    frame.to_parquet(table.path)
    table.metadata.update({"train_rows": int((frame.split == "train").sum()), "holdout_rows": len(holdout)})


def train(
    table: Input[Dataset],
    validated: Input[Dataset],
    data_spec: dict,
    holdout_days: int,
    model_params: dict,
    model: Output[Model],
):
    """Fit the forecaster on the training rows; keep its training data as the drift reference."""
    from pathlib import Path

    import pandas as pd

    from pipelines.logic.data import DataSpec
    from pipelines.logic.evaluation import split_holdout
    from pipelines.logic.model import TRAINING_DATA_FILE, Forecaster

    spec = DataSpec.from_dict(data_spec)
    frame = pd.read_parquet(table.path)
    rows = frame[frame.split == "train"]
    forecaster = Forecaster.fit(rows, rows["target"], spec, model_params)
    forecaster.save(Path(model.path))
    training_part, _ = split_holdout(pd.read_parquet(validated.path), spec, holdout_days)
    training_part.to_parquet(Path(model.path) / TRAINING_DATA_FILE)
    model.metadata["framework"] = "xgboost"


def evaluate(
    model: Input[Model],
    validated: Input[Dataset],
    data_spec: dict,
    holdout_days: int,
    registry_uri: str,
    evaluation: Output[Artifact],
    metrics: Output[Metrics],
):
    """Challenger, champion and seasonal-naive baseline on the same time-ordered holdout."""
    import json
    from pathlib import Path

    import pandas as pd

    from pipelines.logic import promotion
    from pipelines.logic.data import DataSpec
    from pipelines.logic.registry import open_registry

    result = promotion.evaluate(
        open_registry(registry_uri),
        Path(model.path),
        pd.read_parquet(validated.path),
        DataSpec.from_dict(data_spec),
        holdout_days,
    )
    Path(evaluation.path).write_text(json.dumps(result, indent=2))
    for name in ("challenger", "baseline", "champion"):
        for metric, value in (result[name] or {}).items():
            metrics.log_metric(f"{name}_{metric}", round(value, 4))


def gate(evaluation: Input[Artifact], metric: str, margin: float, metrics: Output[Metrics]) -> NamedTuple(
    "Gate", [("promote", bool), ("reason", str)]
):
    """Champion/challenger: promote only a challenger that beats the champion by `margin`."""
    import json
    from collections import namedtuple
    from pathlib import Path

    from pipelines.logic.gate import decide

    result = json.loads(Path(evaluation.path).read_text())
    decision = decide(result["challenger"], result["champion"], result["baseline"], metric=metric, margin=margin)
    metrics.log_metric("promote", int(decision.promote))
    metrics.log_metric(f"challenger_{metric}", round(decision.challenger, 4))
    if decision.champion is not None:
        metrics.log_metric(f"champion_{metric}", round(decision.champion, 4))
    return namedtuple("Gate", ["promote", "reason"])(decision.promote, decision.reason)


def register(
    model: Input[Model],
    evaluation: Input[Artifact],
    validated: Input[Dataset],
    data_spec: dict,
    holdout_days: int,
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
    import json
    from pathlib import Path

    import pandas as pd

    from pipelines.logic import promotion
    from pipelines.logic.data import DataSpec
    from pipelines.logic.model import SPEC_FILE
    from pipelines.logic.registry import VertexRegistry, open_registry

    result = json.loads(Path(evaluation.path).read_text())
    registry = open_registry(registry_uri, serving_image=serving_image)
    version = promotion.register(
        registry,
        Path(model.path),
        result,
        promote=promote,
        reason=reason,
        series=pd.read_parquet(validated.path),
        spec=DataSpec.from_dict(data_spec),
        holdout_days=holdout_days,
        metric=metric,
        margin=margin,
    )
    print(f"registered version {version.version}: {version.metrics['reason']}")
    if experiment and isinstance(registry, VertexRegistry):
        from pipelines.ops.experiments import log_training_run, run_name

        params = json.loads((Path(model.path) / SPEC_FILE).read_text())["params"]
        scores = {f"{name}_{key}": value for name in ("challenger", "baseline") for key, value in result[name].items()}
        log_training_run(
            project=registry.project,
            region=registry.region,
            experiment=experiment,
            run=run_name(registry.model, version.version),
            params=params,
            metrics=scores | {"promoted": int(version.metrics["promoted"])},
        )
    return version.version


def batch_predict(validated: Input[Dataset], registry_uri: str, horizon: int, forecasts: Output[Dataset]) -> str:
    """Forecast the periods after the input's last observation with the champion."""
    import pandas as pd

    from pipelines.logic.forecast import forecast
    from pipelines.logic.model import Forecaster
    from pipelines.logic.registry import RegistryError, champion_to_use, open_registry

    registry = open_registry(registry_uri)
    try:
        champion = champion_to_use(registry, registry_uri)
    except RegistryError as error:
        raise SystemExit(str(error)) from None  # the reason, without a traceback
    forecaster = Forecaster.load(registry.fetch(champion))
    result = forecast(forecaster, pd.read_parquet(validated.path), horizon)
    result["model_version"] = champion.version
    result.to_csv(forecasts.path, index=False)
    forecasts.metadata.update({"model_version": champion.version, "rows": len(result)})
    return champion.version


def detect_drift(
    validated: Input[Dataset],
    registry_uri: str,
    threshold: float,
    report: Output[HTML],
    report_json: Output[Artifact],
    metrics: Output[Metrics],
) -> bool:
    """Seasonal level drift of recent inputs against the champion's training data (drift.py); True above threshold."""
    from pathlib import Path

    import pandas as pd

    from pipelines.logic import drift
    from pipelines.logic.model import TRAINING_DATA_FILE, Forecaster
    from pipelines.logic.registry import ARTIFACT_FILES, RegistryError, champion_to_use, open_registry

    registry = open_registry(registry_uri)
    try:
        champion = champion_to_use(registry, registry_uri)
    except RegistryError as error:
        raise SystemExit(str(error)) from None  # the reason, without a traceback
    artifacts = registry.fetch(champion, ARTIFACT_FILES)
    spec = Forecaster.load(artifacts).spec
    reference = pd.read_parquet(artifacts / TRAINING_DATA_FILE)
    result = drift.detect_drift(reference, pd.read_parquet(validated.path), spec)
    Path(report.path).write_text(result.html)
    Path(report_json.path).write_text(result.json)
    metrics.log_metric("drift_share", round(result.share, 4))
    metrics.log_metric("drifted_columns", len(result.drifted))
    metrics.log_metric("threshold", threshold)
    return result.exceeds(threshold)


FUNCTIONS = (ingest, validate, features, train, evaluate, gate, register, batch_predict, detect_drift)


def make_components(image: str) -> SimpleNamespace:
    """The components, built on `image` (the components image; ignored by local runs)."""
    return SimpleNamespace(
        **{f.__name__: dsl.component(f, base_image=image, install_kfp_package=False) for f in FUNCTIONS}
    )
