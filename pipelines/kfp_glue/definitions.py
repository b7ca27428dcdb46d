"""The pipelines: training, prediction, monitoring, and one day of the daily cycle. They take any
CSV (local path or gs://) through `source` and `data_spec`;
the reference dataset is only the default. `build(image)` makes them on a given components image.
Parameter defaults come from the one table in parameters.py (which also holds their ranges)."""

from types import SimpleNamespace

from kfp import dsl

from environments.naming import LOCAL_COMPONENTS_IMAGE
from pipelines.kfp_glue.components import make_components
from pipelines.logic.parameters import DEFAULTS as D


def build(image: str = LOCAL_COMPONENTS_IMAGE) -> SimpleNamespace:
    c = make_components(image)

    def train_and_register(
        source, data_spec, holdout_days, model_params, metric, promotion_margin, registry_uri, experiment, override=""
    ):
        raw = c.ingest(source=source, override=override).set_display_name("ingest")
        valid = c.validate(
            raw=raw.outputs["raw"], data_spec=data_spec, purpose="training", holdout_days=holdout_days
        ).set_display_name("validate")
        table = c.features(validated=valid.outputs["validated"], data_spec=data_spec, holdout_days=holdout_days)
        model = c.train(
            table=table.outputs["table"],
            validated=valid.outputs["validated"],
            data_spec=data_spec,
            model_params=model_params,
            metric=metric,
        )
        scored = c.evaluate(
            model=model.outputs["model"], validated=valid.outputs["validated"], registry_uri=registry_uri
        )
        decision = c.gate(evaluation=scored.outputs["evaluation"], metric=metric, margin=promotion_margin)
        return c.register(
            model=model.outputs["model"],
            evaluation=scored.outputs["evaluation"],
            validated=valid.outputs["validated"],
            metric=metric,
            margin=promotion_margin,
            promote=decision.outputs["promote"],
            reason=decision.outputs["reason"],
            registry_uri=registry_uri,
            experiment=experiment,
            serving_image=image,
        )

    @dsl.pipeline(name="training", description="Ingest, validate, featurize, train, evaluate, gate, register")
    def training(
        registry_uri: str,
        source: str = D["source"],
        data_spec: dict = D["data_spec"],
        holdout_days: int = D["holdout_days"],
        model_params: dict = D["model_params"],
        metric: str = D["metric"],
        promotion_margin: float = D["promotion_margin"],
        experiment: str = D["experiment"],
    ) -> str:
        return train_and_register(
            source, data_spec, holdout_days, model_params, metric, promotion_margin, registry_uri, experiment
        ).output

    @dsl.pipeline(name="prediction", description="Forecast the next periods with the champion")
    def prediction(
        registry_uri: str,
        source: str = D["source"],
        data_spec: dict = D["data_spec"],
        horizon: int = D["horizon"],
    ) -> dsl.Dataset:
        raw = c.ingest(source=source)
        valid = c.validate(raw=raw.outputs["raw"], data_spec=data_spec, purpose="prediction", holdout_days=0)
        return c.batch_predict(
            validated=valid.outputs["validated"], registry_uri=registry_uri, horizon=horizon
        ).outputs["forecasts"]

    @dsl.pipeline(name="monitoring", description="Drift of recent inputs against the champion; retrain when it asks")
    def monitoring(
        registry_uri: str,
        source: str = D["source"],
        data_spec: dict = D["data_spec"],
        drift_threshold: float = D["drift_threshold"],
        training_source: str = D["training_source"],
        holdout_days: int = D["holdout_days"],
        promotion_margin: float = D["promotion_margin"],
        experiment: str = D["experiment"],
    ) -> dsl.HTML:
        raw = c.ingest(source=source)
        valid = c.validate(raw=raw.outputs["raw"], data_spec=data_spec, purpose="monitoring", holdout_days=0)
        drift = c.detect_drift(
            validated=valid.outputs["validated"], registry_uri=registry_uri, threshold=drift_threshold
        )
        with dsl.If(drift.outputs["Output"] == True, name="drift-above-threshold"):  # noqa: E712 - a KFP condition
            train_and_register(
                source,
                data_spec,
                holdout_days,
                D["model_params"],
                D["metric"],
                promotion_margin,
                registry_uri,
                experiment,
                override=training_source,
            )
        return drift.outputs["report"]

    @dsl.pipeline(name="daily", description="One day of the daily cycle: collect, score, check, retrain, forecast")
    def daily(
        registry_uri: str,
        day: str = D["day"],
        source: str = D["source"],
        source_url: str = D["source_url"],
        data_spec: dict = D["data_spec"],
        degradation_ratio: float = D["degradation_ratio"],
        degradation_days: int = D["degradation_days"],
        drift_threshold: float = D["drift_threshold"],
        drift_window_days: int = D["drift_window_days"],
        holdout_days: int = D["holdout_days"],
        metric: str = D["metric"],
        promotion_margin: float = D["promotion_margin"],
    ) -> str:
        return c.daily_cycle(
            registry_uri=registry_uri,
            day=day,
            source=source,
            source_url=source_url,
            data_spec=data_spec,
            degradation_ratio=degradation_ratio,
            degradation_days=degradation_days,
            drift_threshold=drift_threshold,
            drift_window_days=drift_window_days,
            holdout_days=holdout_days,
            metric=metric,
            promotion_margin=promotion_margin,
        ).output

    return SimpleNamespace(training=training, prediction=prediction, monitoring=monitoring, daily=daily)
