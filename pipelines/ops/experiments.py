"""Vertex AI Experiments: each training run's parameters and holdout metrics, on Google Cloud.

Local runs keep them in KFP Metrics artifacts only; on Vertex AI the register step also logs them
to the experiment, one experiment run per registered model version.
"""

from __future__ import annotations

import re


def run_name(model: str, version: str) -> str:
    """Experiment run names are lowercase letters, digits and hyphens."""
    return re.sub(r"[^a-z0-9-]+", "-", f"{model}-v{version}".lower()).strip("-")[:128]


def log_training_run(*, project: str, region: str, experiment: str, run: str, params: dict, metrics: dict) -> None:
    from google.cloud import aiplatform

    # No backing TensorBoard: it would be created (and billed) just to hold these few scalars.
    aiplatform.init(project=project, location=region, experiment=experiment, experiment_tensorboard=False)
    with aiplatform.start_run(run) as experiment_run:
        experiment_run.log_params(params)
        experiment_run.log_metrics(metrics)
