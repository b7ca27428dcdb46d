"""While the stacks are built, Python and jsii's node share one CPU (`infra.synth.one_cpu`); each
gets its own CPUs back afterwards, whether the build succeeded or not."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from infra import NODE
from infra.synth import jsii_node_processes, one_cpu

THREADED_CHILD = """
import threading, time
for _ in range(3):
    threading.Thread(target=time.sleep, args=(60,)).start()
time.sleep(60)
"""


def threads_of(pid: int) -> list[int]:
    return [int(task.name) for task in Path(f"/proc/{pid}/task").iterdir()]


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
    with pytest.raises(RuntimeError, match="the build failed"), one_cpu([threaded_child.pid]):
        inside = os.sched_getaffinity(0)
        assert (len(inside) == 1 and inside < allowed) if len(allowed) > 1 else inside == allowed
        for task in tasks:
            assert os.sched_getaffinity(task) == inside
        raise RuntimeError("the build failed")
    assert os.sched_getaffinity(0) == allowed
    for task in tasks:
        assert os.sched_getaffinity(task) == allowed


def test_nothing_is_pinned_without_a_node_process():
    allowed = os.sched_getaffinity(0)
    with one_cpu([]):
        assert os.sched_getaffinity(0) == allowed


def test_the_process_pinned_is_the_one_node_jsii_started_which_runs_the_kernel(stacks):
    (pid,) = jsii_node_processes()  # no relay process (infra/jsii_kernel.py)
    assert Path(f"/proc/{pid}/exe").resolve() == NODE.resolve()
    assert Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[-2] == bytes(Path(os.environ["JSII_RUNTIME"]))
