"""ML pipelines: plain, tested modules for the logic, and thin KFP components over them.

data.py       read and validate time series (the reference dataset, a local CSV or gs://)
features.py   the one feature module: training, batch prediction and online serving use it
model.py      the forecaster (gradient-boosted trees) and its saved form
evaluation.py time-ordered holdout, metrics, seasonal-naive baseline
gate.py       champion/challenger decision
promotion.py  evaluation against the champion, registration through the gate (compare-and-swap)
registry.py   model registry: a local folder, or Vertex AI Model Registry
forecast.py   forecasts from a trained model (batch and online)
drift.py      Evidently drift report
parameters.py the parameters table (defaults, types, ranges); submission.py the one path to Vertex AI
components.py KFP components; definitions.py the pipelines; cli.py compile/run/publish
"""
