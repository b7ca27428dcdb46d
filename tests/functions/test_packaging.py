"""Function archives: byte-identical for the same code, named by content, self-contained; their
pins agree with uv.lock; the committed schedules name parameters the pipelines really have."""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
import sys
import zipfile

import pytest
import yaml

from environments.config import environment_names, load_environment
from functions.archive import build_archive, write_archive
from functions.settings import FUNCTIONS
from pipelines.parameters import check
from tests.conftest import REPO_ROOT


@pytest.mark.parametrize("function", FUNCTIONS)
def test_archives_hold_the_function_and_its_shared_modules_only(function):
    names = zipfile.ZipFile(io.BytesIO(build_archive(function))).namelist()
    assert names == sorted(names)
    assert {"main.py", "requirements.txt", "pipelines/__init__.py", "environments/config.py"} <= set(names)
    assert not [n for n in names if "__pycache__" in n or n.startswith("tests/") or n.endswith(".pyc")]


def test_predict_ships_the_shared_feature_module():
    names = zipfile.ZipFile(io.BytesIO(build_archive("predict"))).namelist()
    assert "pipelines/features.py" in names and "pipelines/components.py" not in names


def test_archives_are_byte_identical_whatever_the_file_times_and_caches(tmp_path):
    before = build_archive("predict")
    main = REPO_ROOT / "functions" / "predict" / "main.py"
    os.utime(main, (1, 1))
    cache = REPO_ROOT / "functions" / "predict" / "__pycache__"
    cache.mkdir(exist_ok=True)
    (cache / "stray.cpython-311.pyc").write_bytes(b"\0")
    try:
        assert build_archive("predict") == before
    finally:
        shutil.rmtree(cache)
    first, second = write_archive("predict", tmp_path), write_archive("predict", tmp_path)
    assert first == second and re.fullmatch(r"predict-[0-9a-f]{16}\.zip", first.name)


def test_another_checkout_builds_the_same_bytes(tmp_path):
    """Another folder, other file times, no caches: as on another machine."""
    checkout = tmp_path / "checkout"
    for package in ("environments", "functions", "pipelines"):
        shutil.copytree(
            REPO_ROOT / package,
            checkout / package,
            copy_function=shutil.copy,
            ignore=shutil.ignore_patterns("__pycache__"),
        )
    code = (
        "import sys; from functions.archive import build_archive; "
        "sys.stdout.buffer.write(build_archive('pipeline_trigger'))"
    )
    built = subprocess.run(
        [sys.executable, "-c", code],
        cwd=checkout,
        capture_output=True,
        check=True,
        env=os.environ | {"PYTHONPATH": str(checkout)},
    ).stdout
    assert built == build_archive("pipeline_trigger")


def test_changed_code_changes_the_archive_name(tmp_path, monkeypatch):
    import functions.archive as archive

    original = write_archive("pipeline_trigger", tmp_path / "out")
    copy = tmp_path / "functions"
    shutil.copytree(REPO_ROOT / "functions" / "pipeline_trigger", copy / "pipeline_trigger")
    with (copy / "pipeline_trigger" / "main.py").open("a") as main:
        main.write("# changed\n")
    monkeypatch.setattr(archive, "FUNCTIONS_DIR", copy)
    changed = write_archive("pipeline_trigger", tmp_path / "out")
    assert changed.name != original.name and changed.exists() and original.exists()


@pytest.mark.parametrize("function", FUNCTIONS)
def test_requirements_are_pinned_to_the_locked_versions(function):
    lock = (REPO_ROOT / "uv.lock").read_text()
    for line in (REPO_ROOT / "functions" / function / "requirements.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            name, version = line.split("==")
            assert f'name = "{name}"\nversion = "{version}"' in lock, f"{function}: {line} is not in uv.lock"


@pytest.mark.parametrize("env", environment_names())
def test_committed_schedules_name_real_parameters(env, templates):
    for schedule in load_environment(env).schedules:
        template = yaml.safe_load((templates / f"{schedule.pipeline}.yaml").read_text())
        values = {"registry_uri": "vertex://p/r/m"} | schedule.parameters
        assert check(template, values) == [], f"{env}: schedule {schedule.name}"
