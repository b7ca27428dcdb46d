"""Functions under test: a functions-framework app (test client) or a real server, and the JSON
values the bad-request properties are made of."""

from __future__ import annotations

from hypothesis import strategies as st

from environments.loading import REPO_ROOT
from functions.serve import local_environment, serving
from pipelines.logic.data import load_reference

FIRED = {"X-CloudScheduler-ScheduleTime": "2026-11-22T03:00:00Z"}
TEAMS = {"forecasting": "team-forecasting@acme-mlops-dev.iam.gserviceaccount.com"}
HISTORY_ROWS = 9 * 48  # enough for every feature


def history(rows: int = HISTORY_ROWS) -> list[dict]:
    frame = load_reference().tail(rows)
    return [
        {"timestamp": t.isoformat(), "demand": float(d)}
        for t, d in zip(frame["timestamp"], frame["demand"], strict=True)
    ]


def make_app(function: str, variables: dict[str, str], monkeypatch):
    import functions_framework

    for key, value in local_environment(function, "dev").items():
        monkeypatch.setenv(key, value)
    for key, value in variables.items():
        monkeypatch.setenv(key, value)
    source = REPO_ROOT / "functions" / function / "main.py"
    target = {"pipeline_trigger": "trigger", "predict": "predict"}[function]
    return functions_framework.create_app(target=target, source=str(source)).test_client()


def serve(function: str, variables: dict[str, str]):
    """`make serve` for real: a functions-framework process on a free loopback port; yields its URL."""
    return serving(["functions.serve", "--function", function], variables)


# Any JSON value, nested a little: the raw material of the bad-request properties.
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)


def raw_answer(url: str, method: str, head: bytes, body: bytes, timeout: float = 20) -> tuple[int, dict]:
    """(status, JSON body) of the answer a client gets that sends `head` and `body`, then waits
    without sending more (a socket timeout if no answer comes)."""
    import json
    import socket
    from urllib.parse import urlsplit

    address = urlsplit(url)
    with socket.create_connection((address.hostname, address.port), timeout=timeout) as client:
        client.sendall(
            f"{method} / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n".encode() + head + b"\r\n" + body
        )
        answer = b""
        while b"\r\n\r\n" not in answer:
            answer += _received(client)
        headers, _, content = answer.partition(b"\r\n\r\n")
        length = int(
            next(line.split(b":")[1] for line in headers.split(b"\r\n") if line.lower().startswith(b"content-length:"))
        )
        while len(content) < length:
            content += _received(client)
    return int(headers.split(b" ")[1]), json.loads(content)


def _received(client) -> bytes:
    """The next bytes of an answer; a connection closed before the answer's end is a failure, not a loop."""
    chunk = client.recv(65536)
    if not chunk:
        raise ConnectionError("the server closed the connection before its answer's end")
    return chunk
