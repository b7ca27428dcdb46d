"""A local HTTP server that records the exact requests a Google client library sends.

Google Cloud APIs cannot be reached from tests, so the client libraries are pointed at this server
(with anonymous credentials) and tests assert on what they would have sent. `respond` decides each
answer from (method, path); unanswered requests get 404 like a missing resource.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


@dataclass(frozen=True)
class CapturedRequest:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def json(self):
        return json.loads(self.body)


Responder = Callable[[CapturedRequest], tuple[int, object] | None]


class CaptureServer:
    def __init__(self, respond: Responder) -> None:
        self.requests: list[CapturedRequest] = []
        captured, answer = self.requests, respond

        class Handler(BaseHTTPRequestHandler):
            def _handle(self) -> None:
                url = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                request = CapturedRequest(
                    self.command,
                    url.path,
                    parse_qs(url.query),
                    {k.lower(): v for k, v in self.headers.items()},
                    self.rfile.read(length),
                )
                captured.append(request)
                status, body = answer(request) or (404, {"error": {"code": 404, "message": "not found"}})
                text = isinstance(body, str)  # plain text answers, e.g. Artifact Registry's uploads
                payload = body.encode() if text else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/plain" if text else "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _handle

            def log_message(self, *args) -> None:  # keep test output clean
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> CaptureServer:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()


def created_pipeline_job(request: CapturedRequest, seen: set[str] | None = None) -> tuple[int, object] | None:
    """Vertex AI's answer to a PipelineJob create: the job echoed with its name, or 409 for a job id
    already in `seen` (as the real API answers a second create with the same id)."""
    if request.method != "POST" or not request.path.endswith("/pipelineJobs"):
        return None
    job_id = request.query["pipelineJobId"][0]
    if seen is not None:
        if job_id in seen:
            return 409, {"error": {"code": 409, "message": "already exists", "status": "ALREADY_EXISTS"}}
        seen.add(job_id)
    parent = request.path.removeprefix("/v1/").removesuffix("/pipelineJobs")
    return 200, request.json() | {"name": f"{parent}/pipelineJobs/{job_id}", "state": 2}


@contextmanager
def vertex_ai(respond: Responder, monkeypatch, **init):
    """google-cloud-aiplatform pointed at a CaptureServer (REST, anonymous credentials), with the
    pipeline-root bucket check of `PipelineJob.submit` stubbed; the global config is reset after."""
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import aiplatform
    from google.cloud.aiplatform import initializer, pipeline_jobs

    monkeypatch.setattr(
        pipeline_jobs.gcs_utils, "create_gcs_bucket_for_pipeline_artifacts_if_it_does_not_exist", lambda **kwargs: None
    )
    with CaptureServer(respond) as server:
        aiplatform.init(api_endpoint=server.url, api_transport="rest", credentials=AnonymousCredentials(), **init)
        try:
            yield server
        finally:
            initializer.global_config.__init__()  # aiplatform.init is global and bound to this object
