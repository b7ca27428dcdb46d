"""JSON request bodies for the HTTP functions: validated before anything else, answered with
400 `{"error", "field"}` (or 405/413) instead of functions-framework's bare 500."""

from __future__ import annotations

import json


class BadRequest(Exception):
    def __init__(self, field: str | None, error: str, status: int = 400):
        self.field, self.error, self.status = field, error, status

    def response(self) -> tuple[dict, int]:
        return {"error": self.error, "field": self.field}, self.status


def json_object(request, keys: tuple[str, ...], max_bytes: int) -> dict:
    """The POSTed body as a JSON object holding only `keys`, or BadRequest naming what is wrong."""
    if request.method != "POST":
        raise BadRequest("method", f"{request.method} is not allowed; expected POST", 405)
    raw = request.get_data(cache=True)
    if len(raw) > max_bytes:
        raise BadRequest("body", f"body is {len(raw)} bytes; expected at most {max_bytes}", 413)
    try:
        body = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise BadRequest("body", f"body is not valid JSON: {error}") from None
    if not isinstance(body, dict):
        raise BadRequest("body", f"expected a JSON object with keys {', '.join(keys)}")
    unknown = sorted(set(body) - set(keys))
    if unknown:
        raise BadRequest(unknown[0], f"unknown key {unknown[0]!r}; expected {', '.join(keys)}")
    return body
