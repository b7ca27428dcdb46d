"""`make synth`: bad configs exit non-zero with one clear message, no traceback, no stack written."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from environments.loading import REPO_ROOT
from tests.support.environments import minimal, write_environments


def run(*args: str, env_dir: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **({"PLATFORM_ENVIRONMENTS_DIR": str(env_dir)} if env_dir else {})}
    return subprocess.run(args, cwd=REPO_ROOT, env=env, capture_output=True, text=True, check=False)


def test_make_synth_with_a_bad_file_names_file_key_value_and_expectation(environments_dir: Path):
    (environments_dir / "broken.yaml").write_text(minimal("broken", extra="composer: {size: huge}\n"))
    result = run("make", "--no-print-directory", "synth", "ENV=broken", env_dir=environments_dir)
    assert result.returncode != 0
    assert "environments/broken.yaml: composer.size: 'huge' is not one of small, medium, large" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert not (REPO_ROOT / "infra" / "cdktf.out" / "stacks" / "broken").exists()


def test_a_schedule_the_trigger_would_refuse_fails_synth_naming_file_and_key(environments_dir: Path):
    schedule = "  - {name: drift, cron: '0 6 * * *', pipeline: monitoring, parameters: {drift_threshold: 7}}\n"
    (environments_dir / "late.yaml").write_text(minimal("late", extra="schedules:\n" + schedule))
    result = run(sys.executable, "-m", "infra.synth", "--env", "late", env_dir=environments_dir)
    assert result.returncode == 2
    assert result.stderr == (
        "environments/late.yaml: schedules[0].parameters.drift_threshold: 7 is out of range; expected 0 to 1\n"
    )


def test_synth_of_an_unknown_environment_lists_the_real_ones(environments_dir: Path):
    write_environments(environments_dir, ["nothing", "cmek"], team=False)
    result = run(sys.executable, "-m", "infra.synth", "--env", "staging", env_dir=environments_dir)
    assert result.returncode == 2
    assert result.stderr == "ENV: 'staging' is not an environment; expected one of cmek, nothing\n"
    assert result.stdout == ""


def test_one_bad_file_among_several_writes_no_stack_at_all(environments_dir: Path, tmp_path: Path):
    from environments.messages import ConfigError
    from infra.synth import synthesize

    (environments_dir / "good.yaml").write_text(minimal("good"))
    (environments_dir / "bad.yaml").write_text(minimal("bad", region="nowhere-1"))
    outdir = tmp_path / "out"
    try:
        synthesize(None, outdir=outdir)
    except ConfigError:
        pass
    else:
        raise AssertionError("synth accepted a bad environment file")
    assert not outdir.exists()
