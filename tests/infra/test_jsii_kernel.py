"""jsii's kernel runs in the node process jsii starts (infra/jsii_kernel.py): the kernel's messages
go over Python's pipes, and what JavaScript prints reaches Python's streams as jsii's relay sends it."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path

from environments.loading import REPO_ROOT
from infra import NODE
from infra.jsii_kernel import direct_kernel

PRINTS_BETWEEN_REQUESTS = 'setImmediate(() => { console.log("from javascript"); console.error("an error line"); });\n'


def test_the_kernel_answers_on_the_pipes_and_what_javascript_prints_goes_to_stderr_as_json(tmp_path: Path):
    node, kernel = direct_kernel(NODE, tmp_path / "cache")
    preload = tmp_path / "prints.js"
    preload.write_text(PRINTS_BETWEEN_REQUESTS)
    process = subprocess.Popen(
        [node, "--require", preload, kernel], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    out, err = process.communicate(b'{"api":"stats"}\n{"api":"stats"}\n{"exit":0}\n', timeout=60)
    assert process.returncode == 0
    hello, *answers = [json.loads(line) for line in out.splitlines()]
    assert hello["hello"].startswith("@jsii/runtime@")
    assert answers == [{"ok": {"objectCount": 0}}] * 2
    printed = [json.loads(line) for line in err.splitlines()]
    assert [(kind, base64.b64decode(text)) for line in printed for kind, text in line.items()] == [
        ("stdout", b"from javascript\n"),
        ("stderr", b"an error line\n"),
    ]


def test_the_kernel_links_cached_packages_as_under_jsii_own_launcher(tmp_path: Path):
    """The kernel links a cached package where `--preserve-symlinks` is among node's own arguments,
    and copies it otherwise (half a second for the provider)."""
    node, _ = direct_kernel(NODE, tmp_path / "cache")
    script = tmp_path / "arguments.js"
    script.write_text("console.log(JSON.stringify(process.execArgv));\n")
    shown = subprocess.run([node, "--max-old-space-size=4069", script], capture_output=True, text=True, check=True)
    assert json.loads(shown.stdout) == ["--preserve-symlinks", "--max-old-space-size=4069"]


def test_jsii_debug_lines_reach_python_stderr_decoded():
    shown = subprocess.run(
        [sys.executable, "-c", "import infra, cdktn"],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        env={**os.environ, "JSII_DEBUG": "1"},
        timeout=120,
    )
    lines = shown.stderr.splitlines()
    assert shown.returncode == 0
    assert '> {"name":"constructs"' in lines[0]  # the kernel's own lines
    assert "[@jsii/kernel] load {" in lines  # console.error
    assert not [line for line in lines if line.startswith("b'")]


def test_where_the_folder_cannot_be_written_jsii_own_launcher_runs(tmp_path: Path):
    (tmp_path / "cache").write_text("a file where the folder would be")
    assert direct_kernel(NODE, tmp_path / "cache") is None


def test_a_node_chosen_by_the_user_keeps_jsii_own_launcher(tmp_path: Path):
    env = {k: v for k, v in os.environ.items() if k not in ("JSII_NODE", "JSII_RUNTIME")}
    shown = subprocess.run(
        [sys.executable, "-c", "import os, infra; print(os.environ['JSII_NODE'], os.environ.get('JSII_RUNTIME'))"],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        env={**env, "JSII_NODE": str(NODE)},
        check=True,
    )
    assert shown.stdout.split() == [str(NODE), "None"]
