"""Benchmark: synthesizing every environment, next to the floor measured in the same run.

floor: a fresh process that only imports the google provider and synthesizes one empty stack
full:  a fresh process that synthesizes every environment (`make synth`'s work)

Each runs RUNS times in a new process (the first synth in a process is what users pay); wall time
and the peak resident memory of the whole process tree (python + jsii's node) are reported as the
median and the worst run. Figures are printed, never asserted.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
RUNS = 3

FLOOR = """
import infra
from cdktn import App, TerraformStack
from cdktn_provider_google.provider import GoogleProvider
app = App(outdir={outdir!r})
stack = TerraformStack(app, "empty")
GoogleProvider(stack, "google", project="floor-project", region="europe-west1")
app.synth()
"""

FULL = """
from pathlib import Path
from infra.synth import synthesize
synthesize(None, outdir=Path({outdir!r}))
"""


def tree_rss_kib(pid: int) -> int:
    """Resident memory of a process and all its descendants, in KiB."""
    total, pending = 0, [pid]
    while pending:
        current = pending.pop()
        try:
            status = Path(f"/proc/{current}/status").read_text()
            total += next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:"))
            for task in Path(f"/proc/{current}/task").iterdir():
                pending += [int(c) for c in (task / "children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError, StopIteration):
            continue
    return total


def measure(code: str) -> tuple[float, float]:
    """Wall seconds and peak MiB of one fresh process running `code`."""
    with tempfile.TemporaryDirectory() as outdir:
        started = time.perf_counter()
        process = subprocess.Popen([sys.executable, "-c", code.format(outdir=outdir)], cwd=REPO_ROOT)
        peak = 0
        while process.poll() is None:
            peak = max(peak, tree_rss_kib(process.pid))
            time.sleep(0.02)
        elapsed = time.perf_counter() - started
        if process.returncode:
            raise SystemExit(f"benchmark process failed with exit code {process.returncode}")
    return elapsed, peak / 1024


def main() -> None:
    print(f"synth benchmark: {RUNS} fresh processes each, python {sys.version.split()[0]}")
    print(f"{'case':<28} {'wall median':>12} {'wall max':>10} {'peak MiB median':>16} {'peak MiB max':>13}")
    results = {}
    for name, code in (("floor (empty stack)", FLOOR), ("all environments", FULL)):
        runs = [measure(code) for _ in range(RUNS)]
        walls, peaks = [r[0] for r in runs], [r[1] for r in runs]
        results[name] = (statistics.median(walls), statistics.median(peaks))
        print(
            f"{name:<28} {statistics.median(walls):>11.2f}s {max(walls):>9.2f}s "
            f"{statistics.median(peaks):>16.0f} {max(peaks):>13.0f}"
        )
    (floor_wall, floor_peak), (full_wall, full_peak) = results.values()
    print(f"over the floor: +{full_wall - floor_wall:.2f}s wall, +{full_peak - floor_peak:.0f} MiB peak")


if __name__ == "__main__":
    main()
