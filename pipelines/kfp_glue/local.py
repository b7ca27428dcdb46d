"""Running the pipelines locally with kfp.local (SubprocessRunner in this virtualenv), read like a
build tool: one line per step as it finishes (name, status, duration) on the console, kfp.local's
full output (executor JSON, each task's streamed logs) in a log file.

Local runs stay bounded: before each run only the newest `KEEP_RUNS` run folders and logs are kept,
and the newest run of each pipeline that succeeded (the registry keeps every version; see
registry.py for its own bound).
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from kfp import local
from kfp.local.orchestrator import enhanced_dag_orchestrator

MAX_REASON_LINES = 20  # a failed step's reason: the last lines it printed (every data problem)
KEEP_RUNS = 10  # newest local run folders (and their logs) kept under the pipeline root
LOGS = "logs"  # the run logs' folder under the pipeline root
_COMPILED_CHANNEL = re.compile(r"inputs\.parameter_values\['(pipelinechannel--[A-Za-z0-9_\-]+)'\]")
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_STARTED = re.compile(r" - INFO - Executing task '([^']+)'")
_FINISHED = re.compile(r" - (?:INFO|ERROR) - Task '([^']+)' finished with status ([A-Z]+)")
_EXECUTOR_LINE = re.compile(r"^\[KFP Executor |^\{|^\}|^\"")
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


def prune(pipeline_root: Path, keep: int = KEEP_RUNS) -> list[Path]:
    """Remove all but the newest `keep` run folders and run logs, keeping as well the newest run of
    each pipeline that succeeded (failed runs never push out the last forecasts or model a summary
    pointed to); returns what was removed."""
    removed, kept = [], _newest_successes(pipeline_root)
    for folder, is_run in ((pipeline_root, Path.is_dir), (pipeline_root / LOGS, Path.is_file)):
        if not folder.is_dir():
            continue
        runs = sorted(
            (p for p in folder.iterdir() if is_run(p) and p.name != LOGS and not p.name.startswith(".")),
            key=lambda p: p.stat().st_mtime,
            reverse=True,
        )
        for old in runs[keep:]:
            if old in kept:
                continue
            shutil.rmtree(old) if old.is_dir() else old.unlink()
            removed.append(old)
    return removed


# kfp.local's run folders: `<pipeline>-<YYYY-MM-DD-HH-MM-SS-microseconds>`.
_RUN_FOLDER = re.compile(r"(.+)-\d{4}(?:-\d{2}){5}-\d+")


# Written into a run's folder when the whole run succeeded: a task that failed before writing an
# output (a component without output artifacts) leaves no folder, so the folders cannot tell.
SUCCEEDED = ".succeeded"


def run_folders(pipeline_root: Path) -> set[Path]:
    return {p for p in pipeline_root.iterdir() if p.is_dir() and p.name != LOGS} if pipeline_root.is_dir() else set()


def mark_succeeded(pipeline_root: Path, before: set[Path]) -> None:
    """Mark the run folders made since `before` (a run's own) as a run that succeeded."""
    for run in run_folders(pipeline_root) - before:
        (run / SUCCEEDED).touch()


def _newest_successes(pipeline_root: Path) -> set[Path]:
    """The newest run folder of each pipeline that holds the SUCCEEDED mark."""
    newest: dict[str, Path] = {}
    for run in sorted(run_folders(pipeline_root), key=lambda p: p.stat().st_mtime, reverse=True):
        if (name := _RUN_FOLDER.fullmatch(run.name)) and (run / SUCCEEDED).is_file():
            newest.setdefault(name[1], run)
    return set(newest.values())


def log_path(pipeline_root: Path, pipeline: str) -> Path:
    return pipeline_root / LOGS / f"{pipeline}-{datetime.now(UTC):%Y%m%dT%H%M%S%f}.log"


@dataclass
class Step:
    name: str
    status: str
    seconds: float
    last_lines: list[str]  # the task's last block of its own log lines: on failure, its reason


@dataclass
class StepReporter(io.TextIOBase):
    """Stands in for stdout during a run: every line goes to the log file (without colour codes); a
    task's start and end become one console line (colour only when the console is a terminal)."""

    log: TextIO
    console: TextIO
    steps: list[Step] = field(default_factory=list)
    _pending: str = ""
    _started: float = 0.0
    _block: list[str] = field(default_factory=list)

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        self.log.write(_ANSI.sub("", text))  # kfp.local colours its lines; a file gets none
        lines = (self._pending + text).split("\n")
        self._pending = lines.pop()
        for line in lines:
            self._read(_ANSI.sub("", line))
        return len(text)

    def flush(self) -> None:
        self.log.flush()

    def _read(self, line: str) -> None:
        if _STARTED.search(line):
            self._started, self._block = time.monotonic(), []
        elif finished := _FINISHED.search(line):
            step = Step(finished[1], finished[2], time.monotonic() - self._started, _reason(self._block))
            self.steps.append(step)
            self.console.write(f"{self._status(step.status)} {step.name:<16} {step.seconds:6.1f}s\n")
            self.console.flush()
        elif (text := line.strip()) and line.startswith("    "):
            # KFP's own lines (executor JSON and messages) end the task's block of its own lines
            self._block = [] if _EXECUTOR_LINE.search(text) else [*self._block, text]

    def _status(self, status: str) -> str:
        label = f"{status:<7}"
        if not self.console.isatty():
            return label
        return f"\x1b[{32 if status == 'SUCCESS' else 31}m{label}\x1b[0m"


_TRACEBACK = "Traceback (most recent call last):"


def _reason(block: list[str]) -> list[str]:
    """A task's reason from its last block of lines: a traceback in it counts as its last line
    alone (the exception), after what the task printed before it."""
    if _TRACEBACK in block:
        block = [*block[: block.index(_TRACEBACK)], block[-1]]
    return block[-MAX_REASON_LINES:]


@contextlib.contextmanager
def component_scratch() -> Iterator[Path]:
    """Run kfp.local inside this: its steps' temporary files go to a folder removed when the block
    ends. kfp writes each lightweight component's program into a `mktemp -d` folder (kfp.dsl's
    component_factory) and never removes it: one folder left in /tmp per step of every local run.
    The steps inherit TMPDIR; this process keeps the temporary folder it had."""
    tempfile.gettempdir()  # fixed for this process before TMPDIR changes
    previous = os.environ.get("TMPDIR")
    with tempfile.TemporaryDirectory(prefix="kfp-local-") as scratch:
        os.environ["TMPDIR"] = scratch
        try:
            yield Path(scratch)
        finally:
            if previous is None:
                os.environ.pop("TMPDIR", None)
            else:
                os.environ["TMPDIR"] = previous


@contextlib.contextmanager
def reported(log_file: Path, console: TextIO | None = None) -> Iterator[StepReporter]:
    """Run kfp.local inside this: its output goes to `log_file`, one line per step to `console`."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with log_file.open("w") as log, contextlib.redirect_stdout(StepReporter(log, console or sys.stdout)) as reporter:
        yield reporter
