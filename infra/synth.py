"""`make synth [ENV=]`: synthesize one or every environment's stack, policy-checked (infra/stack_checks.py).

Writes `infra/cdktf.out/stacks/<env>/cdk.tf.json` and prints resources per type. Synthesis happens
in a staged folder that is published (one atomic symlink swap, see `synthesize`) only when every
requested stack synthesized: a bad config, a policy violation or a crash leaves the previous
output untouched.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import gc
import importlib
import json
import os
import shutil
import sys
import tempfile
import threading
from collections import Counter
from pathlib import Path
from types import ModuleType

from environments.messages import ConfigError
from infra import INFRA_DIR, OUT_DIR
from infra.jsii_kernel import jsii_node_processes
from infra.policy import PolicyViolation


def synthesize(names: list[str] | None = None, outdir: Path = OUT_DIR) -> dict[str, Path]:
    """Synthesize the named environments (all when None); return each stack's cdk.tf.json path.

    `outdir` is published in one atomic step: it is a symlink to a complete staged folder
    (`<parent>/.synth-<outdir name>-*`), replaced by renaming a new symlink over it. A reader sees
    the previous output or the new one, never a mix; a crash at any point leaves the previous
    output published and at most an unpublished staged folder, removed by the next synth (or
    `make clean`). A one-environment synth carries the other environments' stacks over.
    """
    # Importing the provider's modules and building the stacks allocate hundreds of thousands of
    # objects, which would set off the cyclic collector about 240 times (35-40 ms with 10 teams);
    # what a synth makes is freed by reference counting or kept to the end, so it runs without it.
    gc.disable()
    try:
        paths = _synthesize(names, outdir)
    finally:
        gc.enable()
    # jsii holds every object the app made until the process ends: frozen, they are no longer
    # walked by each full collection, nor by the one at exit (0.15 s with 10 teams).
    gc.freeze()
    return paths


def _synthesize(names: list[str] | None, outdir: Path) -> dict[str, Path]:
    loader = _AppLoader()
    try:
        # Imported while the loader starts node: config, schedules and archives need pydantic and
        # the pipelines' modules, which `make synth` would otherwise import before node starts.
        from environments.loading import load_environments
        from infra.deployed import built_archives, function_archives
        from infra.schedules import schedule_problems

        environments = load_environments(names)
        # Schedules are checked as the trigger will check their submissions, before anything is built.
        problems = [problem for environment in environments for problem in schedule_problems(environment)]
        if problems:
            raise ConfigError(problems)
        # The same code in every environment: packaged once, before the provider loads, so that a
        # file unfit to ship is reported at once and not after the seconds the provider takes.
        archives = built_archives()
    except BaseException:
        loader.cancel()
        raise
    loader.load()
    outdir = Path(outdir).absolute()
    outdir.parent.mkdir(parents=True, exist_ok=True)
    with _exclusive(outdir.parent / f"{STAGING_PREFIX}{outdir.name}.lock"):
        _remove_unpublished(outdir)
        staging = Path(tempfile.mkdtemp(prefix=f"{STAGING_PREFIX}{outdir.name}-", dir=outdir.parent))
        try:
            # Next to the stacks that upload them.
            app_module = loader.module()  # the provider loaded, on every CPU
            with one_cpu(jsii_node_processes()):
                app = app_module.build_app(environments, staging, function_archives(staging / "archives", archives))
            app.synth()
            synthesized = [e.name for e in environments]
            if names is not None:
                _carry_over(outdir, staging, synthesized)
            _publish(staging, outdir)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        _remove_unpublished(outdir)
    return {name: outdir / "stacks" / name / "cdk.tf.json" for name in synthesized}


class _AppLoader:
    """Imports `infra.app` in a thread of its own: loading the provider bundle takes seconds in
    jsii's node process, while that thread waits on a pipe and the caller goes on.

    The thread starts at once with cdktn (which starts node), then waits: `load()` lets it go on to
    the provider, once the config is known to be valid and the archives are made; `cancel()` waits
    for cdktn (an exit while jsii unpacks its runtime fails removing its temporary folder) and ends
    the thread without loading the provider."""

    def __init__(self) -> None:
        self._go = threading.Event()
        self._cancelled = False
        self._outcome: dict[str, object] = {}
        self._thread = threading.Thread(target=self._run, name="app-loader")
        self._thread.start()

    def load(self) -> None:
        self._go.set()

    def cancel(self) -> None:
        self._cancelled = True
        self._go.set()
        self._thread.join()

    def module(self) -> ModuleType:
        """`infra.app`, once imported; the import's error if it failed."""
        self._thread.join()
        if "error" in self._outcome:
            raise self._outcome["error"]
        return self._outcome["module"]

    def _run(self) -> None:
        try:
            importlib.import_module("cdktn")
            self._go.wait()
            if not self._cancelled:
                self._outcome["module"] = importlib.import_module("infra.app")
        except BaseException as error:  # re-raised in the caller's thread by `module()`
            self._outcome["error"] = error


@contextlib.contextmanager
def one_cpu(processes: list[int]):
    """The calling thread and every thread of `processes` on one CPU, the caller's, until the
    block ends; then each on the CPUs it had, and the threads started meanwhile (which inherited
    the one CPU from their creator) on their process's.

    Building the stacks is about 1,300 jsii calls, each a strict hand-off: Python writes a request
    and waits, node answers and waits. Across CPUs each hand-off wakes an idle one (on a virtual
    machine, an interprocessor interrupt and often an exit to the hypervisor); on one CPU it is a
    plain switch. On 2 vCPUs with 10 teams, building takes about a third less time. `app.synth()`
    runs outside: it is one call, and node's collector threads help it on the other CPUs.

    Nothing is pinned without a node process, where the system has no affinity calls (macOS) or
    where it allows one CPU only."""
    allowed = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else set()
    if len(allowed) < 2 or not processes:
        yield
        return
    cpu = {_current_cpu(allowed)}
    before = {pid: _threads(pid) for pid in (os.getpid(), *processes)}
    previous: dict[int, set[int]] = {}
    try:
        for task in [threading.get_native_id(), *(task for pid in processes for task in before[pid])]:
            with contextlib.suppress(OSError):  # a thread that ended meanwhile
                previous[task] = os.sched_getaffinity(task)
                os.sched_setaffinity(task, cpu)
        yield
    finally:
        for task, cpus in previous.items():
            with contextlib.suppress(OSError):
                os.sched_setaffinity(task, cpus)
        for pid, threads in before.items():
            for task in _threads(pid) - threads:
                with contextlib.suppress(OSError):
                    os.sched_setaffinity(task, previous.get(pid, allowed))


def _threads(pid: int) -> set[int]:
    try:
        return {int(task.name) for task in Path(f"/proc/{pid}/task").iterdir()}
    except OSError:  # a process that ended
        return set()


def _current_cpu(allowed: set[int]) -> int:
    """The CPU the calling thread last ran on (field 39 of its stat), else the first allowed."""
    try:
        return int(Path("/proc/thread-self/stat").read_text().rsplit(")", 1)[1].split()[36])
    except (OSError, IndexError, ValueError):
        return min(allowed)


# Staged folders, the publishing symlink and the lock live next to the output under this prefix
# (git-ignored as `infra/.synth-*`).
STAGING_PREFIX = ".synth-"


@contextlib.contextmanager
def _exclusive(lock_path: Path):
    """One synth at a time per output folder: cleaning up never removes another synth's staging."""
    with lock_path.open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _carry_over(outdir: Path, staging: Path, synthesized: list[str]) -> None:
    """Copy the published stacks of the environments not synthesized now that still have a file
    (hard links where the file system allows: saved plans and provider caches cost nothing) and
    merge the manifests."""
    if not (outdir / "manifest.json").exists():
        return
    from environments.loading import environment_names

    existing = set(environment_names())  # a deleted environment's stack is not carried over
    previous = json.loads((outdir / "manifest.json").read_text())
    manifest_path = staging / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    for name, entry in previous.get("stacks", {}).items():
        if name in synthesized or name not in existing or not (outdir / "stacks" / name).is_dir():
            continue
        shutil.copytree(outdir / "stacks" / name, staging / "stacks" / name, symlinks=True, copy_function=_link)
        manifest["stacks"][name] = entry
    manifest["stacks"] = dict(sorted(manifest["stacks"].items()))
    manifest_path.write_text(json.dumps(manifest, indent=2))


def _link(source: str, destination: str) -> None:
    try:
        os.link(source, destination)
    except OSError:
        shutil.copy2(source, destination)


def _publish(staging: Path, outdir: Path) -> None:
    """Point `outdir` at `staging` with one rename of a relative symlink."""
    link = outdir.parent / f"{STAGING_PREFIX}{outdir.name}.link"
    link.unlink(missing_ok=True)
    link.symlink_to(staging.name)
    if outdir.is_dir() and not outdir.is_symlink():
        # Output of an older synth, a plain folder: a symlink cannot be renamed over it, so it is
        # moved aside first (once; the next synths swap symlinks only).
        outdir.rename(outdir.parent / f"{STAGING_PREFIX}{outdir.name}-plain")
    os.replace(link, outdir)


def _remove_unpublished(outdir: Path) -> None:
    """Remove staged folders that `outdir` does not point to: replaced output and the leftovers
    of interrupted synths."""
    published = outdir.resolve() if outdir.is_symlink() else None
    for path in outdir.parent.glob(f"{STAGING_PREFIX}{outdir.name}-*"):
        if path.resolve() != published:
            shutil.rmtree(path, ignore_errors=True)
    (outdir.parent / f"{STAGING_PREFIX}{outdir.name}.link").unlink(missing_ok=True)


def resource_counts(stack_json: Path) -> Counter[str]:
    """Resources per type in a synthesized stack; data sources as `data.<type>`."""
    document = json.loads(stack_json.read_text())
    counts: Counter[str] = Counter()
    for section, prefix in (("resource", ""), ("data", "data.")):
        for resource_type, resources in document.get(section, {}).items():
            counts[prefix + resource_type] = len(resources)
    return counts


def format_counts(counts: dict[str, Counter[str]]) -> str:
    """A table of resources per type, one column per environment, with totals."""
    names = list(counts)
    types = sorted(set().union(*counts.values()))
    width = max([len("resource type"), *map(len, types)])
    lines = [f"{'resource type':<{width}}  " + "  ".join(f"{n:>6}" for n in names)]
    lines += [f"{t:<{width}}  " + "  ".join(f"{counts[n][t]:>6}" for n in names) for t in types]
    lines.append(f"{'total':<{width}}  " + "  ".join(f"{sum(counts[n].values()):>6}" for n in names))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", help="environment name (environments/<name>.yaml); all when omitted")
    args = parser.parse_args(argv)
    try:
        paths = synthesize([args.env] if args.env else None)
    except ConfigError as error:
        print("\n".join(error.problems), file=sys.stderr)
        return 2
    except PolicyViolation as error:
        print("synth refused: platform policy violations\n" + "\n".join(error.problems), file=sys.stderr)
        return 1
    for name, path in paths.items():
        print(f"{name}: {path.relative_to(INFRA_DIR.parent)}")
    print(format_counts({name: resource_counts(path) for name, path in paths.items()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
