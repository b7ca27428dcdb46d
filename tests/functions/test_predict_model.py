"""The predict function serves one named model, chosen in the environment's config."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from environments.loading import load_environment
from environments.schema import PredictSettings as PredictConfig
from functions.settings import PredictSettings, deployed_settings


def test_predict_serves_the_model_named_in_the_environment():
    environment = load_environment("dev")
    assert (
        deployed_settings("predict", environment, {}).registry_uri == "vertex://acme-mlops-dev/europe-west1/forecaster"
    )
    predict = environment.functions.predict.model_copy(update={"model": "forecaster-uk-load"})
    named = environment.model_copy(update={"functions": environment.functions.model_copy(update={"predict": predict})})
    settings = deployed_settings("predict", named, {})
    assert settings.registry_uri == "vertex://acme-mlops-dev/europe-west1/forecaster-uk-load"
    assert PredictSettings.from_env(settings.to_env()).registry_uri == settings.registry_uri


@pytest.mark.parametrize("model", ["Forecaster", "uk load", "1st", ""])
def test_a_model_name_vertex_ai_would_refuse_is_refused_in_the_config(model):
    with pytest.raises(ValidationError, match="a Vertex AI model id such as forecaster"):
        PredictConfig(invokers=["group:ml@acme.com"], model=model)
