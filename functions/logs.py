"""Structured log lines for the functions, one JSON object per line on stderr.

Cloud Run (which runs gen2 functions) turns such a line into a structured log entry: `severity` and
`message` become the entry's severity and message, every other key a field of `jsonPayload`
(cloud.google.com/functions/docs/monitor/logging#writing_structured_logs), so alerts and queries can
filter on them, e.g. `jsonPayload.pipeline="training" AND severity>=WARNING`.

Every request gets one line when it is answered (`logged`): `status`, `latency_ms` and the fields
the handler learned (pipeline, team, version, job_id, model_version, horizon, error and field on a
refusal, the trigger's outcome). Severity follows the status: INFO below 400, WARNING for 4xx, ERROR for 5xx and for an
uncaught exception (which functions-framework answers with a bare 500).
"""

from __future__ import annotations

import functools
import json
import sys
import time
from collections.abc import Callable
from typing import Any

SEVERITIES = ("DEBUG", "INFO", "NOTICE", "WARNING", "ERROR", "CRITICAL")

Handler = Callable[[Any, dict], tuple[dict | bytes, int]]
# One encoder for every line: json.dumps(line, default=str) would build a new one each time.
_ENCODER = json.JSONEncoder(default=str)


def log(severity: str, message: str, **fields: Any) -> None:
    """One structured line; fields that are None are left out."""
    if severity not in SEVERITIES:
        raise ValueError(f"severity {severity!r} is not one of {', '.join(SEVERITIES)}")
    line = {"severity": severity, "message": message} | {k: v for k, v in fields.items() if v is not None}
    print(_ENCODER.encode(line), file=sys.stderr, flush=True)


def severity_of(status: int) -> str:
    return "ERROR" if status >= 500 else "WARNING" if status >= 400 else "INFO"


def logged(function: str) -> Callable[[Handler], Callable[[Any], tuple[dict | bytes, int]]]:
    """Wrap a handler `(request, fields) -> (body, status)` that records what it learns about the
    request in `fields`, into an HTTP handler that logs one line per answered request."""

    def wrap(handler: Handler) -> Callable[[Any], tuple[dict | bytes, int]]:
        @functools.wraps(handler)
        def handle(request) -> tuple[dict | bytes, int]:
            started = time.monotonic()
            fields: dict[str, Any] = {}
            try:
                body, status = handler(request, fields)
            except Exception as error:
                log("ERROR", f"{function} failed: {type(error).__name__}", status=500, **_timing(started), **fields)
                raise
            if status >= 400:
                outcome = {"error": body.get("error"), "field": body.get("field")}
            else:  # the trigger's "submitted", "already_submitted" or "dry_run" (predict answers JSON bytes)
                outcome = {"outcome": body.get("status") if isinstance(body, dict) else None}
            log(
                severity_of(status),
                f"{function} answered {status}",
                status=status,
                **_timing(started),
                **fields,
                **outcome,
            )
            return body, status

        return handle

    return wrap


def _timing(started: float) -> dict[str, float]:
    return {"latency_ms": round((time.monotonic() - started) * 1000, 1)}
