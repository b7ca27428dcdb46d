"""Environments: `<name>.yaml` per environment, `teams/<team>.yaml` per team, and their config model."""

from environments.config import (
    ConfigError,
    Environment,
    environment_names,
    load_environment,
    load_environments,
)

__all__ = ["ConfigError", "Environment", "environment_names", "load_environment", "load_environments"]
