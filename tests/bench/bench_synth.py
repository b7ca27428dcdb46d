"""Benchmark: synthesizing dev and prod, with no team and with 10 teams, next to the floor measured
in the same run.

floor:     a fresh process that only imports the google provider and synthesizes one empty stack
0 teams:   a fresh process that synthesizes the committed environments (`make synth`'s work)
10 teams:  the same environments with 10 teams onboarded in both (two owners and one schedule each)

Every case runs Python with -O, as `make synth` does (SYNTH_PY in the Makefile).

The teams are written to a copy of `environments/` (PLATFORM_ENVIRONMENTS_DIR), never into the
source tree. Each case runs once to warm up (Python's bytecode cache, as on a user's second synth;
it is written even where PYTHONDONTWRITEBYTECODE is set), then RUNS times in a new process (the first
synth in a process is what users pay); wall time and the peak resident memory of the whole process
tree (python + jsii's node) are reported as the median and the worst run, then each case's ratio to
the floor and the cost of one extra team. Figures are printed, never asserted.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
PYTHON = (sys.executable, "-O")  # as `make synth` runs
RUNS = 5
TEAMS = 10

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
synthesize(None, outdir=Path({outdir!r}) / "cdktf.out")
"""

TEAM = """name: {name}
owners: [group:{name}@example.com, user:lead-{name}@example.com]
environments: [dev, prod]
schedules:
  - {{name: nightly, cron: "0 1 * * *", pipeline: training}}
"""


def environments_with_teams(directory: Path, teams: int) -> Path:
    """A copy of the committed environment files with `teams` teams onboarded in every one."""
    shutil.copytree(REPO_ROOT / "environments", directory, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    for index in range(teams):
        name = f"team-{index:02d}"
        (directory / "teams" / f"{name}.yaml").write_text(TEAM.format(name=name))
    return directory


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


def measure(code: str, environments: Path | None) -> tuple[float, float]:
    """Wall seconds and peak MiB of one fresh process running `code`."""
    env = {name: value for name, value in os.environ.items() if name != "PYTHONDONTWRITEBYTECODE"}
    env |= {"PLATFORM_ENVIRONMENTS_DIR": str(environments)} if environments else {}
    with tempfile.TemporaryDirectory() as outdir:
        started = time.perf_counter()
        process = subprocess.Popen([*PYTHON, "-c", code.format(outdir=outdir)], cwd=REPO_ROOT, env=env)
        peak = 0
        while process.poll() is None:
            peak = max(peak, tree_rss_kib(process.pid))
            time.sleep(0.02)
        elapsed = time.perf_counter() - started
        if process.returncode:
            raise SystemExit(f"benchmark process failed with exit code {process.returncode}")
    return elapsed, peak / 1024


def main() -> None:
    print(f"synth benchmark: {RUNS} fresh processes per case, python {sys.version.split()[0]}")
    print(f"{'case':<24} {'wall median':>12} {'wall max':>10} {'peak MiB median':>16} {'peak MiB max':>13}")
    results = {}
    with tempfile.TemporaryDirectory() as scratch:
        cases = (
            ("floor (empty stack)", FLOOR, None),
            ("dev+prod, 0 teams", FULL, environments_with_teams(Path(scratch) / "none", 0)),
            (f"dev+prod, {TEAMS} teams", FULL, environments_with_teams(Path(scratch) / "teams", TEAMS)),
        )
        for _, code, environments in cases:
            measure(code, environments)  # warm-up, not counted
        # Runs interleave the cases, so load from other processes on the machine falls on all alike.
        runs: dict[str, list[tuple[float, float]]] = {name: [] for name, _, _ in cases}
        for _ in range(RUNS):
            for name, code, environments in cases:
                runs[name].append(measure(code, environments))
    for name, measured in runs.items():
        walls, peaks = [r[0] for r in measured], [r[1] for r in measured]
        results[name] = (statistics.median(walls), statistics.median(peaks))
        print(
            f"{name:<24} {statistics.median(walls):>11.2f}s {max(walls):>9.2f}s "
            f"{statistics.median(peaks):>16.0f} {max(peaks):>13.0f}"
        )
    (floor_wall, floor_peak), (none_wall, none_peak), (teams_wall, teams_peak) = results.values()
    for name, (wall, peak) in list(results.items())[1:]:
        print(f"{name:<24} {wall / floor_wall:.2f}x the floor's time, {peak / floor_peak:.2f}x its peak memory")
    print(
        f"per extra team: +{(teams_wall - none_wall) / TEAMS * 1000:.0f} ms wall, "
        f"+{(teams_peak - none_peak) / TEAMS:.1f} MiB peak"
    )


if __name__ == "__main__":
    main()
