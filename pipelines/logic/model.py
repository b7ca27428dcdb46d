"""The forecaster: gradient-boosted trees (XGBoost) over the shared features, and its saved form."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import xgboost as xgb

from pipelines.logic.data import DataSpec
from pipelines.logic.features import feature_names, training_rows
from pipelines.logic.parameters import MODEL_PARAMS

DEFAULT_PARAMS = {"n_estimators": 400, "max_depth": 4, "learning_rate": 0.05, "subsample": 0.9}
# KFP passes dict parameters as protobuf Structs, where every number is a double.
INTEGER_PARAMS = frozenset(name for name, rule in MODEL_PARAMS.items() if rule.integer)
MODEL_FILE = "model.json"
SPEC_FILE = "forecaster.json"
SERVING_FILES = (MODEL_FILE, SPEC_FILE)  # what `Forecaster.load` reads
TRAINING_DATA_FILE = "training_data.parquet"  # kept with the model: the drift reference


@dataclass
class Forecaster:
    model: xgb.XGBRegressor
    spec: DataSpec
    params: dict

    @classmethod
    def fit(cls, features: pd.DataFrame, target: pd.Series, spec: DataSpec, params: dict | None = None) -> Forecaster:
        """Fit on rows from `features.training_rows` (complete history, observed target)."""
        params = DEFAULT_PARAMS | {k: int(v) if k in INTEGER_PARAMS else v for k, v in (params or {}).items()}
        if features.empty:
            raise ValueError("no row has complete history; the series is shorter than the longest lag")
        model = xgb.XGBRegressor(**params, random_state=0, n_jobs=2, tree_method="hist")
        model.fit(features[feature_names(spec)].to_numpy(), target.to_numpy())
        return cls(model=model, spec=spec, params=params)

    @classmethod
    def train(cls, series: pd.DataFrame, spec: DataSpec, params: dict | None = None) -> Forecaster:
        """Build the features of a validated series and fit on them."""
        return cls.fit(*training_rows(series, spec), spec, params)

    def predict(self, features: pd.DataFrame) -> np.ndarray:
        return self.model.predict(features[feature_names(self.spec)].to_numpy())

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.model.save_model(directory / MODEL_FILE)
        description = {"spec": self.spec.to_dict(), "params": self.params, "features": feature_names(self.spec)}
        (directory / SPEC_FILE).write_text(json.dumps(description, indent=2))

    @classmethod
    def load(cls, directory: Path) -> Forecaster:
        description = json.loads((directory / SPEC_FILE).read_text())
        model = xgb.XGBRegressor()
        model.load_model(directory / MODEL_FILE)
        return cls(model=model, spec=DataSpec.from_dict(description["spec"]), params=description["params"])
