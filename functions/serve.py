"""`make serve FUNCTION= [PORT=]`: one function locally under functions-framework.

The trigger runs in dry-run mode (it answers with the Vertex request it would send) on the
templates of `make compile-pipelines`; predict serves the champion of the local registry
(`make run-pipeline PIPELINE=training` creates one). Settings come from environments/<ENV>.yaml
(dev by default), as in the deployed function; any of them exported in the shell wins
(e.g. `DRY_RUN=false`, `REGISTRY_URI=...`).
"""

from __future__ import annotations

import argparse
import os
import sys

from environments.config import REPO_ROOT, ConfigError, load_environment
from functions.settings import ENTRY_POINTS, FUNCTIONS, environment_variables

LOCAL_OVERRIDES = {
    "pipeline_trigger": {"TEMPLATE_REPOSITORY": str(REPO_ROOT / "build" / "pipelines"), "DRY_RUN": "true"},
    "predict": {"REGISTRY_URI": str(REPO_ROOT / "build" / "registry"), "CHAMPION_CHECK_SECONDS": "0"},
}


def local_environment(function: str, environment_name: str) -> dict[str, str]:
    """The deployed settings, then the local overrides, then any of them exported in the shell."""
    variables = environment_variables(function, load_environment(environment_name), team_accounts={})
    overrides = LOCAL_OVERRIDES[function]
    exported = {key: os.environ[key] for key in variables | overrides if key in os.environ}
    # The function's folder holds main.py; the shared modules come from the repository itself.
    return variables | overrides | exported | {"PYTHONPATH": str(REPO_ROOT)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--function", required=True)
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--env", default="dev")
    args = parser.parse_args(argv)
    if args.function not in FUNCTIONS:
        print(f"FUNCTION: {args.function!r} is not a function; expected one of {', '.join(FUNCTIONS)}", file=sys.stderr)
        return 2
    try:
        variables = local_environment(args.function, args.env)
    except ConfigError as error:
        print(error, file=sys.stderr)
        return 2
    source = REPO_ROOT / "functions" / args.function / "main.py"
    command = [
        sys.executable,
        "-m",
        "functions_framework",
        "--source",
        str(source),
        "--target",
        ENTRY_POINTS[args.function],
        "--port",
        str(args.port),
    ]
    print(f"serving {args.function} on http://127.0.0.1:{args.port} ({args.env} settings)", flush=True)
    os.execve(sys.executable, command, os.environ | variables)  # noqa: S606 - replaces this process, no shell


if __name__ == "__main__":
    sys.exit(main())
