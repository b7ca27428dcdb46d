"""Running the pipelines locally with kfp.local (SubprocessRunner in this virtualenv)."""

from __future__ import annotations

import re
from pathlib import Path

from kfp import local
from kfp.local.orchestrator import enhanced_dag_orchestrator

_COMPILED_CHANNEL = re.compile(r"inputs\.parameter_values\['(pipelinechannel--[A-Za-z0-9_\-]+)'\]")
_original_evaluate = enhanced_dag_orchestrator.ConditionEvaluator.evaluate_condition


def _evaluate_compiled_condition(condition: str, io_store) -> bool:
    """kfp 2.16's local orchestrator cannot read the conditions its own compiler writes
    (`inputs.parameter_values['pipelinechannel--x'] == true`): it then skips every dsl.If branch
    with a warning. Rewrite them to the form it resolves (`pipelinechannel--x == True`)."""
    rewritten = _COMPILED_CHANNEL.sub(r"\1", condition)
    rewritten = re.sub(r"\btrue\b", "True", re.sub(r"\bfalse\b", "False", rewritten))
    return _original_evaluate(rewritten, io_store)


def init(pipeline_root: Path) -> None:
    """Local runs: components execute as subprocesses of this virtualenv's python (no pip installs),
    artifacts are written under `pipeline_root`."""
    enhanced_dag_orchestrator.ConditionEvaluator.evaluate_condition = staticmethod(_evaluate_compiled_condition)
    pipeline_root.mkdir(parents=True, exist_ok=True)
    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(pipeline_root), raise_on_error=True)
