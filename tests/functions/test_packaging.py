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
from pathlib import Path

import pytest
import yaml

from environments.loading import REPO_ROOT, environment_names, load_environment
from functions.archive import build_archive, write_archive
from functions.settings import FUNCTIONS
from pipelines.logic.parameters import check

# What both archives hold: the naming and message modules, the shared function modules, main.py.
BOTH = [
    "environments/__init__.py",
    "environments/messages.py",
    "environments/naming.py",
    "functions/__init__.py",
    "functions/http_json.py",
    "functions/logs.py",
    "functions/settings.py",
    "main.py",
    "pipelines/__init__.py",
    "pipelines/logic/__init__.py",
]
SHIPPED = {
    "pipeline_trigger": [
        *BOTH,
        "pipelines/logic/model_names.py",
        "pipelines/logic/parameters.py",
        "pipelines/logic/spec.py",
        "pipelines/ops/__init__.py",
        "pipelines/ops/submission.py",
        "pipelines/ops/vertex.py",
        "requirements.txt",
    ],
    "predict": [
        *BOTH,
        "pipelines/logic/champion.py",
        "pipelines/logic/data.py",
        "pipelines/logic/features.py",
        "pipelines/logic/forecast.py",
        "pipelines/logic/model.py",
        "pipelines/logic/model_names.py",
        "pipelines/logic/online.py",
        "pipelines/logic/parameters.py",
        "pipelines/logic/registry.py",
        "pipelines/logic/spec.py",
        "pipelines/logic/trees.py",
        "pipelines/ops/__init__.py",
        "pipelines/ops/vertex.py",
        "requirements.txt",
    ],
}


@pytest.mark.parametrize("function", FUNCTIONS)
def test_archives_hold_what_main_imports_and_not_the_schema(function):
    """Followed from main.py's imports: the naming and message modules, never the config schema,
    its loader or pydantic, and nothing infra or tools."""
    names = zipfile.ZipFile(io.BytesIO(build_archive(function))).namelist()
    assert names == SHIPPED[function]


@pytest.mark.parametrize("function", FUNCTIONS)
def test_an_unzipped_archive_imports_in_a_clean_interpreter(function, tmp_path):
    """Every repository module main.py needs comes from the archive itself: imported from an empty
    folder holding only the archive, in a fresh interpreter."""
    zipfile.ZipFile(io.BytesIO(build_archive(function))).extractall(tmp_path)
    probe = (
        "import sys, main\n"
        "ours = ('environments', 'functions', 'pipelines', 'infra', 'tools')\n"
        "outside = sorted(n for n, m in sys.modules.items() if n.split('.')[0] in ours\n"
        "                 and not (getattr(m, '__file__', '') or '').startswith(sys.argv[1]))\n"
        "print(outside)\n"
        "print('pydantic' in sys.modules, 'yaml' in sys.modules and 'environments.loading' in sys.modules)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    result = subprocess.run(
        [sys.executable, "-c", probe, str(tmp_path)], cwd=tmp_path, env=env, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.splitlines() == ["[]", "False False"]


def test_predict_ships_the_shared_feature_module():
    names = zipfile.ZipFile(io.BytesIO(build_archive("predict"))).namelist()
    assert "pipelines/logic/features.py" in names and "pipelines/kfp_glue/components.py" not in names


def test_archives_are_byte_identical_whatever_the_file_times_and_caches(tmp_path, monkeypatch):
    import functions.archive as archive

    before = build_archive("predict")
    copy = copy_function("predict", tmp_path)
    os.utime(copy / "predict" / "main.py", (1, 1))
    (copy / "predict" / "__pycache__").mkdir()
    (copy / "predict" / "__pycache__" / "stray.cpython-311.pyc").write_bytes(b"\0")
    monkeypatch.setattr(archive, "FUNCTIONS_DIR", copy)
    assert build_archive("predict") == before
    first, second = write_archive("predict", tmp_path), write_archive("predict", tmp_path)
    assert first == second and re.fullmatch(r"predict-[0-9a-f]{16}\.zip", first.name)


def copy_function(function: str, tmp_path) -> Path:
    """A copy of functions/<function>/ under tmp_path/functions (the source tree is never written)."""
    copy = tmp_path / "functions"
    shutil.copytree(REPO_ROOT / "functions" / function, copy / function, ignore=shutil.ignore_patterns("__pycache__"))
    return copy


def test_only_the_declared_files_are_packaged_whatever_else_the_folder_holds(tmp_path, monkeypatch):
    import functions.archive as archive

    before = build_archive("predict")
    copy = copy_function("predict", tmp_path)
    folder = copy / "predict"
    (folder / ".env").write_text("SECRET=1\n")
    (folder / "main.py.swp").write_bytes(b"swap")
    (folder / ".venv").mkdir()
    (folder / ".venv" / "x.py").write_text("x = 1\n")
    (folder / "build").mkdir()
    (folder / "build" / "out.py").write_text("out = 1\n")
    (tmp_path / "outside.py").write_text("leaked = 1\n")
    (folder / "linked.py").symlink_to(tmp_path / "outside.py")
    monkeypatch.setattr(archive, "FUNCTIONS_DIR", copy)
    payload = build_archive("predict")
    assert zipfile.ZipFile(io.BytesIO(payload)).namelist() == SHIPPED["predict"]
    assert payload == before


def test_a_symlinked_or_missing_function_file_is_refused(tmp_path, monkeypatch):
    import functions.archive as archive

    copy = copy_function("predict", tmp_path)
    folder = copy / "predict"
    (tmp_path / "elsewhere.py").write_text((folder / "main.py").read_text())
    (folder / "main.py").unlink()
    (folder / "main.py").symlink_to(tmp_path / "elsewhere.py")
    (folder / "requirements.txt").unlink()
    monkeypatch.setattr(archive, "FUNCTIONS_DIR", copy)
    with pytest.raises(archive.ArchiveError) as refused:
        build_archive("predict")
    assert refused.value.problems == [
        f"function predict: {folder}/main.py: is a symbolic link; expected a regular file (links are never "
        "followed into an archive)",
        f"function predict: {folder}/requirements.txt: is missing or not a regular file",
    ]


def test_in_a_git_work_tree_untracked_and_unlisted_files_are_refused(tmp_path, monkeypatch):
    import functions.archive as archive

    copy = copy_function("predict", tmp_path)
    folder = copy / "predict"
    (folder / "helper.py").write_text("helper = 1\n")
    (folder / "notes.swp").write_text("untracked, ignored\n")
    subprocess.run(["git", "init", "-q", str(copy)], check=True)
    subprocess.run(["git", "add", "predict/main.py", "predict/helper.py"], cwd=copy, check=True)
    monkeypatch.setattr(archive, "FUNCTIONS_DIR", copy)
    with pytest.raises(archive.ArchiveError) as refused:
        build_archive("predict")
    assert refused.value.problems == [
        f"function predict: {folder}/requirements.txt: not tracked by git; archives hold tracked files only "
        "(git add it)",
        f"function predict: {folder}/helper.py: tracked in the function's folder but not packaged; add it to "
        "FUNCTION_FILES (functions/archive.py) or move it out",
    ]


def test_synth_prints_archive_problems_without_a_traceback_before_loading_the_provider(tmp_path):
    """In a process of its own: whether synth loaded the provider (`infra.app`), in any thread, is
    seen in sys.modules once every thread has ended."""
    copy = copy_function("pipeline_trigger", tmp_path)
    copy_function("predict", tmp_path)
    (copy / "predict" / "requirements.txt").unlink()
    code = (
        "import sys, threading; import functions.archive as archive; from infra.synth import main; "
        f"archive.FUNCTIONS_DIR = archive.Path({str(copy)!r}); code = main(['--env', 'dev']); "
        "others = [t for t in threading.enumerate() if not t.daemon and t is not threading.current_thread()]; "
        "[thread.join() for thread in others]; "
        "print('infra.app' in sys.modules); sys.exit(code)"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, check=False)
    assert result.returncode == 2
    assert result.stderr == f"function predict: {copy}/predict/requirements.txt: is missing or not a regular file\n"
    assert result.stdout == "False\n"


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


def test_committed_requirements_are_a_fresh_export_of_the_lock():
    result = subprocess.run(
        ["make", "--no-print-directory", "-s", "check-requirements"], cwd=REPO_ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("function", FUNCTIONS)
def test_every_requirement_is_pinned_with_hashes(function):
    """pip's hash-checking mode, which any hash turns on, needs every package pinned and hashed."""
    text = (REPO_ROOT / "functions" / function / "requirements.txt").read_text()
    entries = re.split(r"\n(?=[a-z0-9])", text.split("\n", 1)[1])
    assert len(entries) > 40
    for entry in entries:
        assert re.match(r"[a-z0-9._-]+==[0-9][^ ]* ", entry) and "--hash=sha256:" in entry, entry
    names = {entry.split("==")[0] for entry in entries}
    assert {"functions-framework", "google-cloud-aiplatform", "pydantic", "flask", "werkzeug", "protobuf"} <= names


@pytest.mark.parametrize("env", environment_names())
def test_committed_schedules_name_real_parameters(env, templates):
    for schedule in load_environment(env).schedules:
        template = yaml.safe_load((templates / f"{schedule.pipeline}.yaml").read_text())
        values = {"registry_uri": "vertex://p/r/m"} | schedule.parameters
        assert check(template, values) == [], f"{env}: schedule {schedule.name}"


def test_imports_are_found_in_every_statement_block_except_type_checking_ones(tmp_path):
    """Imports at any depth of statements count (functions, classes, try/except/finally, with, for,
    match, else branches); those under `if TYPE_CHECKING:` and relative ones do not."""
    from functions.archive import _imported_modules

    source = tmp_path / "probe.py"
    source.write_text(
        "from __future__ import annotations\n"
        "import a.top\n"
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        "    import hidden.one\n"
        "if typing.TYPE_CHECKING:\n"
        "    import hidden.two\n"
        "else:\n"
        "    import b.else_branch\n"
        "from . import relative\n"
        "class C:\n"
        "    def method(self):\n"
        "        with open('x'):\n"
        "            for _ in []:\n"
        "                from c.deep import (name,\n"
        "                    other)\n"
        "try:\n"
        "    import d.tried\n"
        "except ImportError:\n"
        "    import e.handled\n"
        "finally:\n"
        "    import f.finally_\n"
        "match 1:\n"
        "    case 1:\n"
        "        import g.matched\n"
        "x = [__import__('not.a.statement')]\n"
    )
    assert sorted(_imported_modules(source)) == [
        "__future__",
        "__future__.annotations",
        "a.top",
        "b.else_branch",
        "c.deep",
        "c.deep.name",
        "c.deep.other",
        "d.tried",
        "e.handled",
        "f.finally_",
        "g.matched",
        "typing",
        "typing.TYPE_CHECKING",
    ]
