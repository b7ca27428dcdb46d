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

PRINTS_BETWEEN_REQUESTS = """
setImmediate(() => {
  console.log("from javascript");
  console.error("an error line");
  require("fs").writeSync(1, "written to fd 1\\n");
  void process.stdin.isTTY;  // opens fd 0 as a stream: under jsii's relay, /dev/null
});
"""


def kernel_with(tmp_path: Path, preload: str, requests: bytes) -> tuple[int, bytes, list[bytes]]:
    """The kernel's exit code, its answers and its stderr's lines, after `requests`."""
    node, kernel = direct_kernel(NODE, tmp_path / "cache")
    script = tmp_path / "preload.js"
    script.write_text(preload)
    process = subprocess.Popen(
        [node, "--require", script, kernel], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    out, err = process.communicate(requests, timeout=60)
    return process.returncode, out, err.splitlines()


def decoded(line: bytes) -> tuple[str, bytes]:
    """A line of the relay's form, {"stdout" or "stderr": base64}."""
    ((kind, text),) = json.loads(line).items()
    return kind, base64.b64decode(text)


def test_the_kernel_answers_on_the_pipes_and_what_javascript_prints_goes_to_stderr(tmp_path: Path):
    code, out, err = kernel_with(tmp_path, PRINTS_BETWEEN_REQUESTS, b'{"api":"stats"}\n' * 2 + b'{"exit":0}\n')
    assert code == 0
    hello, *answers = [json.loads(line) for line in out.splitlines()]
    assert hello["hello"].startswith("@jsii/runtime@")
    assert answers == [{"ok": {"objectCount": 0}}] * 2
    assert [decoded(line) for line in err[:2]] == [("stdout", b"from javascript\n"), ("stderr", b"an error line\n")]
    assert err[2:] == [b"written to fd 1"]


def test_an_uncaught_javascript_error_reaches_python_decoded_and_ends_the_kernel(tmp_path: Path):
    code, _, err = kernel_with(tmp_path, 'setImmediate(() => { throw new Error("boom"); });\n', b'{"api":"stats"}\n')
    assert code == 1
    kind, text = decoded(err[0])
    assert kind == "stderr" and text.startswith(b"Error: boom\n    at ")


def test_node_runs_on_the_kernel_pipes_with_symlinks_preserved_as_under_jsii_own_launcher(tmp_path: Path):
    """The kernel links a cached package where `--preserve-symlinks` is among node's own arguments,
    and copies it otherwise (half a second for the provider)."""
    node, _ = direct_kernel(NODE, tmp_path / "cache")
    script = tmp_path / "arguments.js"
    script.write_text(
        'const fs = require("fs");\n'
        "const seen = { execArgv: process.execArgv, fd3: fs.readFileSync(3, 'utf8'),"
        " fd0: fs.readFileSync(0, 'utf8') };\n"
        "fs.writeSync(4, JSON.stringify(seen));\n"
        'console.log("fd 1");\n'
    )
    shown = subprocess.run(
        [node, "--max-old-space-size=4069", script], input="a request", capture_output=True, text=True
    )
    assert json.loads(shown.stdout) == {
        "execArgv": ["--preserve-symlinks", "--max-old-space-size=4069"],
        "fd3": "a request",
        "fd0": "",
    }
    assert shown.stderr == "fd 1\n"


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


def test_a_kernel_file_emptied_or_removed_since_is_written_again(tmp_path: Path):
    node, kernel = direct_kernel(NODE, tmp_path / "cache")
    written = {path: path.read_bytes() for path in kernel.parent.parent.rglob("*") if path.is_file()}
    for damage in (lambda: kernel.write_text(""), (kernel.parent.parent / "lib" / "program.js").unlink):
        damage()
        assert direct_kernel(NODE, tmp_path / "cache") == (node, kernel)
        assert {path: path.read_bytes() for path in kernel.parent.parent.rglob("*") if path.is_file()} == written
