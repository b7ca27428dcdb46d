"""Operator tooling: the CLI (`make compile-pipelines`, `run-pipeline`, `publish-pipelines`), the one
submission path to Vertex AI Pipelines (shared with the trigger function) and Vertex AI Experiments.
"""
