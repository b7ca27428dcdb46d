"""The Makefile is the user interface: every target is listed by `make help` with one line."""

from __future__ import annotations

import re
import subprocess

from environments.loading import REPO_ROOT

INTERNAL = {"env-required"}


def make_targets() -> set[str]:
    text = (REPO_ROOT / "Makefile").read_text()
    return {m for m in re.findall(r"^([a-z][a-z-]*):", text, re.MULTILINE)} - INTERNAL


def test_make_help_lists_every_target_with_a_description():
    result = subprocess.run(
        ["make", "--no-print-directory", "help"], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    )
    listed = {}
    for line in result.stdout.splitlines():
        name, _, description = line.strip().partition(" ")
        listed[name] = description.strip()
    assert set(listed) == make_targets()
    assert all(listed.values()), "every target needs a `## description`"


def run_recipe(target: str, *assignments: str) -> list[str]:
    """Run `target`'s real recipe, in bash, with the python interpreter replaced by a printf of its
    arguments: what the program would receive, one element each."""
    result = subprocess.run(
        ["make", "--no-print-directory", "-s", "-o", ".venv/.synced", target, "PY=printf '%s\\0'", *assignments],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout.split("\0")[:-1]


def test_hostile_values_reach_programs_as_arguments_never_as_code(tmp_path):
    marker = tmp_path / "ran"
    tag = f"v1`{{touch,{marker}}}`"  # a valid git ref name
    make_code = f"$(shell touch {marker})"
    params = '{"note": "it\'s $(touch ' + str(marker) + ')"}'
    assert run_recipe("publish-pipelines", "ENV=dev", f"TAG={tag}") == [
        "-m", "pipelines.ops.cli", "publish", "--env", "dev", "--tag", tag
    ]  # fmt: skip
    assert run_recipe("run-pipeline", f"PIPELINE={make_code}", f"PARAMS={params}", f"DRY_RUN={make_code}") == [
        "-m", "pipelines.ops.cli", "run", make_code, "--params", params, "--dry-run"
    ]  # fmt: skip
    assert run_recipe("diff", f"BASE=main;touch {marker}") == ["-m", "infra.diff", "--base", f"main;touch {marker}"]
    assert run_recipe("onboard-team", f"TEAM=$$(touch {marker})", "OWNERS=user:a@b.co'\"") == [
        "-m", "environments.teams", "onboard", "--team", f"$$(touch {marker})", "--owners", "user:a@b.co'\""
    ]  # fmt: skip
    assert run_recipe("synth", f"ENV=dev $(touch {marker})") == [
        "-O", "-m", "infra.synth", "--env", f"dev $(touch {marker})"
    ]  # fmt: skip
    assert not marker.exists()


def test_make_serve_refuses_hostile_values_with_a_clear_message(tmp_path):
    marker = tmp_path / "ran"
    cases = {
        f"FUNCTION=predict`touch {marker}`": (
            f"FUNCTION: 'predict`touch {marker}`' is not a function; expected one of pipeline_trigger, predict"
        ),
        f"HOST=$(touch {marker})": (
            f"HOST: '$(touch {marker})' is not an IP address; expected 127.0.0.1 (this machine only, the default) "
            "or e.g. 0.0.0.0 (every interface)"
        ),
        "PORT=8080;id": "PORT: '8080;id' is not a port; expected a number from 1 to 65535",
    }
    for assignment, message in cases.items():
        variables = ["FUNCTION=predict", assignment]
        result = subprocess.run(
            ["make", "--no-print-directory", "-s", "-o", ".venv/.synced", "serve", *variables],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
        )
        assert (result.returncode, result.stdout) == (2, "")
        assert result.stderr.splitlines()[0] == message
    assert not marker.exists()


def test_make_bench_runs_the_benchmarks_bench_names_and_refuses_any_other(tmp_path):
    every = ["synth", "training", "predict", "accuracy"]
    assert run_recipe("bench") == [f"tests/bench/bench_{name}.py" for name in every]
    assert run_recipe("bench", "BENCH=predict accuracy") == [f"tests/bench/bench_{name}.py" for name in every[2:]]
    marker = tmp_path / "ran"
    for value in ("accuracy speed", f"accuracy $(shell touch {marker})", f"accuracy;touch {marker}"):
        result = subprocess.run(
            ["make", "--no-print-directory", "-s", "-o", ".venv/.synced", "bench", f"BENCH={value}", "PY=true"],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
        )
        assert (result.returncode, result.stdout) == (2, "")
        assert f"*** BENCH: '{value}' is not a benchmark; expected some of: {' '.join(every)}." in result.stderr
    assert not marker.exists()
