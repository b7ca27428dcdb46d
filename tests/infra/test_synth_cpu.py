"""While the stacks are built, Python and jsii's node share one CPU (`infra.synth.one_cpu`); each
gets its own CPUs back afterwards, whether the build succeeded or not."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import infra.app
from infra import NODE
from infra.jsii_kernel import jsii_node_processes
from infra.synth import one_cpu, synthesize
from tests.support.environments import write_environments

THREADED_CHILD = """
import threading, time
for _ in range(3):
    threading.Thread(target=time.sleep, args=(60,)).start()
time.sleep(60)
"""
DIRECT_KERNEL = os.environ["JSII_RUNTIME"].endswith("/bin/kernel.js")  # infra/jsii_kernel.py


def threads_of(pid: int) -> list[int]:
    return [int(task.name) for task in Path(f"/proc/{pid}/task").iterdir()]


def pinned_alike(inside: set[int], allowed: set[int]) -> bool:
    """One CPU of those allowed, where there are several to choose from."""
    return (len(inside) == 1 and inside < allowed) if len(allowed) > 1 else inside == allowed


@pytest.fixture
def threaded_child():
    child = subprocess.Popen([sys.executable, "-c", THREADED_CHILD])
    deadline = time.monotonic() + 10
    while len(threads_of(child.pid)) < 4 and time.monotonic() < deadline:
        time.sleep(0.01)
    yield child
    child.kill()
    child.wait()


def test_the_caller_and_every_thread_of_the_processes_share_one_cpu_then_get_theirs_back(threaded_child):
    allowed = os.sched_getaffinity(0)
    tasks = threads_of(threaded_child.pid)
    assert len(tasks) == 4
    release = threading.Event()
    started_inside = threading.Thread(target=release.wait)
    with pytest.raises(RuntimeError, match="the build failed"), one_cpu([threaded_child.pid]):
        inside = os.sched_getaffinity(0)
        assert pinned_alike(inside, allowed)
        for task in tasks:
            assert os.sched_getaffinity(task) == inside
        started_inside.start()  # inherits the one CPU
        raise RuntimeError("the build failed")
    try:
        assert os.sched_getaffinity(0) == allowed
        assert os.sched_getaffinity(started_inside.native_id) == allowed
        for task in tasks:
            assert os.sched_getaffinity(task) == allowed
    finally:
        release.set()


def test_nothing_is_pinned_without_a_node_process():
    allowed = os.sched_getaffinity(0)
    with one_cpu([]):
        assert os.sched_getaffinity(0) == allowed


def test_synth_builds_the_stacks_with_python_and_node_on_one_cpu(stacks, environments_dir, tmp_path, monkeypatch):
    allowed = os.sched_getaffinity(0)
    build_app = infra.app.build_app
    seen: dict[str, set[int]] = {}

    def watched(*args, **kwargs):
        seen["python"] = os.sched_getaffinity(0)
        seen["node"] = set.union(*(os.sched_getaffinity(pid) for pid in jsii_node_processes()))
        return build_app(*args, **kwargs)

    monkeypatch.setattr(infra.app, "build_app", watched)
    write_environments(environments_dir, ["nothing"], team=False)
    synthesize(None, outdir=tmp_path / "out")
    assert pinned_alike(seen["python"], allowed)
    assert seen["node"] == seen["python"]
    assert os.sched_getaffinity(0) == allowed
    assert all(os.sched_getaffinity(pid) == allowed for pid in jsii_node_processes())


@pytest.mark.skipif(not DIRECT_KERNEL, reason="JSII_NODE or JSII_RUNTIME set outside: jsii runs as set")
def test_the_process_pinned_is_the_one_node_jsii_started_which_runs_the_kernel(stacks):
    (pid,) = jsii_node_processes()  # no relay process
    assert Path(f"/proc/{pid}/exe").resolve() == NODE.resolve()
    assert Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[-2] == os.environ["JSII_RUNTIME"].encode()
