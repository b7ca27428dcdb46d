"""`make serve FUNCTION= [PORT=] [HOST=]`: one function locally under functions-framework.

It listens on 127.0.0.1 (this machine only) unless HOST names another address, e.g. 0.0.0.0 for
every interface, and prints the address it really binds.

The trigger runs in dry-run mode (it answers with the Vertex request it would send) on the
templates of `make compile-pipelines`; predict serves the champion of the local registry
(`make run-pipeline PIPELINE=training` creates one). Settings come from environments/<ENV>.yaml
(dev by default), as in the deployed function; any of them exported in the shell wins
(e.g. `DRY_RUN=false`, `REGISTRY_URI=...`).
"""

from __future__ import annotations

import argparse
import errno
import ipaddress
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

from environments.credentials import refused
from environments.loading import COMPILED_DIR, LOCAL_MODELS, LOCAL_REGISTRY, REPO_ROOT, load_environment
from environments.messages import ConfigError
from functions.settings import ENTRY_POINTS, FUNCTIONS, REQUEST_TIMEOUT_SECONDS, SettingsError, deployed_settings

# What a local run changes of the deployed settings: compiled templates and a dry run for the
# trigger, the local registry (checked on every request) for predict.
LOCAL_OVERRIDES = {
    "pipeline_trigger": {"templates": str(COMPILED_DIR), "dry_run": True},
    "predict": {"registry_uri": str(LOCAL_REGISTRY), "champion_check_seconds": 0},
}


def local_environment(function: str, environment_name: str) -> dict[str, str]:
    """The deployed settings with the local overrides, then any of their variables exported in the
    shell; SettingsError when the function could not read them (refused here, not on each request)."""
    deployed = deployed_settings(function, load_environment(environment_name))  # with the environment's teams
    variables = replace(deployed, **LOCAL_OVERRIDES[function]).to_env()
    variables["CLOUD_RUN_TIMEOUT_SECONDS"] = str(REQUEST_TIMEOUT_SECONDS)  # as deployed: see REQUEST_TIMEOUT_SECONDS
    variables |= {key: os.environ[key] for key in variables if key in os.environ}
    type(deployed).from_env(variables)
    registry = variables.get("REGISTRY_URI", "")
    # A folder other than the local registry that is not there is a mistyped path: served, every
    # request would be told to train first. (The local registry appears with the first training run.)
    local = registry and "://" not in registry
    if local and not Path(registry).is_dir() and Path(registry).resolve() != LOCAL_REGISTRY:
        raise SettingsError(
            f"REGISTRY_URI: {registry[:80]!r} is no folder; expected the folder a training run registered "
            f"its model in (under {LOCAL_MODELS.relative_to(REPO_ROOT)}/ for a model of its own), or "
            "vertex://<project>/<region>/<model>"
        )
    # The function's folder holds main.py; the shared modules come from the repository itself.
    return variables | {"PYTHONPATH": str(REPO_ROOT)}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def serving(module_args: list[str], env: dict[str, str] | None = None, timeout: float = 60) -> Iterator[str]:
    """Run `python -m <module_args> --port <free port>` on loopback until the block ends; yields its
    URL once it answers. `serving(["functions.serve", "--function", "predict"])` is `make serve`."""
    import requests

    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    # A file, not a pipe: a busy server never blocks on its own log.
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(
            [sys.executable, "-m", *module_args, "--port", str(port)],
            cwd=REPO_ROOT,
            env=os.environ | (env or {}),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + timeout
            while True:
                try:
                    requests.get(url, timeout=1)
                    break
                except requests.ConnectionError:
                    if process.poll() is not None or time.monotonic() > deadline:
                        process.kill()
                        process.wait(timeout=10)
                        log.seek(0)
                        output = log.read().decode(errors="replace")[-2000:]
                        raise RuntimeError(f"{' '.join(module_args)} did not start on {url}:\n{output}") from None
                    time.sleep(0.2)
            yield url
        finally:
            process.terminate()
            process.wait(timeout=10)


LOOPBACK = "127.0.0.1"


def listen_address(host: str, port: str) -> tuple[str, int, str]:
    """(host, port, URL) from the HOST and PORT values, or ValueError naming the bad one."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(
            f"HOST: {host!r} is not an IP address; expected {LOOPBACK} (this machine only, the default) "
            "or e.g. 0.0.0.0 (every interface)"
        ) from None
    if not port.isascii() or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ValueError(f"PORT: {port!r} is not a port; expected a number from 1 to 65535")
    shown = f"[{address}]" if address.version == 6 else str(address)
    return str(address), int(port), f"http://{shown}:{int(port)}"


def check_bindable(host: str, port: int) -> None:
    """ValueError naming PORT when the address cannot be bound (most often: another server has it),
    or HOST when it is no address of this machine, checked before anything is printed: gunicorn
    would retry and log the error for five seconds."""
    family = socket.AF_INET6 if ipaddress.ip_address(host).version == 6 else socket.AF_INET
    with socket.socket(family) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as gunicorn binds
        try:
            probe.bind((host, port))
        except OSError as error:
            if error.errno == errno.EADDRNOTAVAIL:
                raise ValueError(
                    f"HOST: {host} is not an address of this machine; expected {LOOPBACK} (this machine only, "
                    "the default), 0.0.0.0 (every interface) or one of its own addresses"
                ) from None
            raise ValueError(
                f"PORT: {port} on {host} cannot be bound ({error.strerror}); expected a free port, e.g. "
                f"PORT={port + 1 if port < 65535 else 8080}"
            ) from None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--function", required=True)
    parser.add_argument("--host", default=LOOPBACK)
    parser.add_argument("--port", default="8080")
    parser.add_argument("--env", default="dev")
    args = parser.parse_args(argv)
    if args.function not in FUNCTIONS:
        print(f"FUNCTION: {args.function!r} is not a function; expected one of {', '.join(FUNCTIONS)}", file=sys.stderr)
        return 2
    try:
        host, port, url = listen_address(args.host, args.port)
        check_bindable(host, port)
    except ValueError as error:
        return refused(error)
    try:
        variables = local_environment(args.function, args.env)
    except (ConfigError, SettingsError) as error:
        return refused(error)
    source = REPO_ROOT / "functions" / args.function / "main.py"
    command = [
        sys.executable,
        "-m",
        "functions_framework",
        "--source",
        str(source),
        "--target",
        ENTRY_POINTS[args.function],
        "--host",
        host,
        "--port",
        str(port),
    ]
    reach = "this machine only" if ipaddress.ip_address(host).is_loopback else "other machines too"
    print(f"serving {args.function} on {url} ({reach}; {args.env} settings)", flush=True)
    os.execve(sys.executable, command, os.environ | variables)  # noqa: S606 - replaces this process, no shell


if __name__ == "__main__":
    sys.exit(main())
