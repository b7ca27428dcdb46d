"""`make dashboard [DASHBOARD_REGISTRY=] [PORT=] [HOST=]`: the dashboard on a registry and a pipeline root.

By default the local ones (build/registry, or the local registry DASHBOARD_REGISTRY names, and
build/local-runs), with the local registry's daily cycle store (`cycle_store.store_root`);
`--registry vertex://<project>/<region>/<model>`, `--runs gs://<bucket>/<prefix>` and `--cycle`
read an environment's instead (the deployed service does, see infra/constructs/dashboard.py: it
gives `--cycle` only where the cycle is on). Listens on 127.0.0.1 (this machine only) unless HOST
names another address. Every page view reads the registry and runs again, so it shows the newest
state without a restart.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import plotly

from environments.credentials import refused
from environments.loading import LOCAL_PIPELINE_ROOT, LOCAL_REGISTRY
from functions.serve import LOOPBACK, listen_address
from pipelines.logic.cycle_store import store_root
from pipelines.logic.model_names import unreadable_registry
from tools.dashboard.data import Sources, check_runs_root, gather
from tools.dashboard.page import PLOTLY_JS, render

PLOTLY_BUNDLE = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"


def handler_for(sources: Sources) -> type[BaseHTTPRequestHandler]:
    class Dashboard(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/":
                self._send(200, "text/html; charset=utf-8", render(gather(sources)).encode())
            elif self.path == PLOTLY_JS:
                self._send(200, "application/javascript", PLOTLY_BUNDLE.read_bytes())
            else:
                self._send(404, "text/plain; charset=utf-8", b"not found\n")

        def _send(self, status: int, content_type: str, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return Dashboard


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default=LOOPBACK)
    parser.add_argument("--port", default="8080")
    parser.add_argument(
        "--registry", default=str(LOCAL_REGISTRY), help="a folder or vertex://<project>/<region>/<model>"
    )
    parser.add_argument("--runs", default=str(LOCAL_PIPELINE_ROOT), help="a folder or gs://<bucket>[/<prefix>]")
    parser.add_argument(
        "--cycle", help="a folder or gs://<bucket>/<prefix>; by default a local registry's (cycle_store.store_root)"
    )
    args = parser.parse_args(argv)
    try:
        host, port, url = listen_address(args.host, args.port)
        if problem := unreadable_registry(args.registry):
            raise ValueError(f"registry: {problem}; expected a registry folder or vertex://<project>/<region>/<model>")
        check_runs_root(args.runs)
    except ValueError as error:
        return refused(error)
    # A local registry's cycle store by default; a deployed one only where the stack gives it (and read access).
    local = not args.registry.startswith("vertex://")
    sources = Sources(
        registry=args.registry, runs=args.runs, cycle=args.cycle or (store_root(args.registry) if local else None)
    )
    render(gather(sources))  # before listening: the first view does not wait for the imports and model
    server = ThreadingHTTPServer((host, port), handler_for(sources))
    print(f"dashboard on {url} (registry {args.registry}, runs {args.runs})", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
