"""Source archives for Cloud Functions: exactly the files a function needs, byte-identical for
identical code, named by content hash.

An archive holds the function's own files (FUNCTION_FILES: main.py, requirements.txt) at its root,
plus the shared modules it imports from this repository (SHARED_MODULES), so training and serving
run the same feature code without copies in the repository. Both lists are explicit: nothing else
in the folder is ever packaged (no `.env`, editor swap files, `.venv`, build output, caches).
Every packaged file must be a regular file (a symbolic link is refused, never followed) and, when
the repository is a git work tree, tracked by git; a function folder holding tracked files outside
FUNCTION_FILES is refused too, since they would be missing at run time. Problems raise ArchiveError
(a ConfigError, so `make synth` prints them without a traceback). Entries are sorted, timestamps and
permissions fixed: the same code gives the same bytes on any machine, hence the same object name,
hence no redeploy.
"""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import zipfile
from pathlib import Path

from environments.config import REPO_ROOT, ConfigError

FUNCTIONS_DIR = REPO_ROOT / "functions"
# The repository modules each function imports (its own folder is always included).
SHARED_MODULES = {
    "pipeline_trigger": [
        "environments/__init__.py",
        "environments/config.py",
        "functions/__init__.py",
        "functions/http_json.py",
        "functions/logs.py",
        "pipelines/__init__.py",
        "pipelines/parameters.py",
        "pipelines/spec.py",
        "pipelines/submission.py",
        "pipelines/vertex.py",
    ],
    "predict": [
        "environments/__init__.py",
        "environments/config.py",
        "functions/__init__.py",
        "functions/http_json.py",
        "functions/logs.py",
        "pipelines/__init__.py",
        "pipelines/data.py",
        "pipelines/spec.py",
        "pipelines/features.py",
        "pipelines/model.py",
        "pipelines/forecast.py",
        "pipelines/online.py",
        "pipelines/parameters.py",
        "pipelines/registry.py",
        "pipelines/vertex.py",
    ],
}
# Each function folder's own files, at the archive's root.
FUNCTION_FILES = ("main.py", "requirements.txt")
FIXED_TIME = (1980, 1, 1, 0, 0, 0)


class ArchiveError(ConfigError):
    """A function's files cannot be packaged as they are; one line per file."""


def archive_entries(function: str) -> list[tuple[str, Path]]:
    """(name in archive, file) pairs, sorted; ArchiveError when any file is not fit to ship."""
    folder = FUNCTIONS_DIR / function
    own = [(name, folder / name) for name in FUNCTION_FILES]
    shared = [(module, REPO_ROOT / module) for module in SHARED_MODULES[function]]
    problems = [f"{_shown(path)}: {problem}" for _, path in own + shared if (problem := _file_problem(path))]
    tracked_here = _tracked(folder, ["."])
    if tracked_here is not None:
        problems += [
            f"{_shown(path)}: not tracked by git; archives hold tracked files only (git add it)"
            for _, path in own
            if path not in tracked_here
        ]
        problems += [
            f"{_shown(path)}: tracked in the function's folder but not packaged; add it to FUNCTION_FILES "
            "(functions/archive.py) or move it out"
            for path in sorted(tracked_here - {path for _, path in own})
        ]
    tracked_shared = _tracked(REPO_ROOT, SHARED_MODULES[function])
    if tracked_shared is not None:
        problems += [
            f"{_shown(path)}: not tracked by git; archives hold tracked files only (git add it)"
            for _, path in shared
            if path not in tracked_shared
        ]
    if problems:
        raise ArchiveError([f"function {function}: {problem}" for problem in problems])
    return sorted(own + shared)


def _file_problem(path: Path) -> str | None:
    if path.is_symlink():
        return "is a symbolic link; expected a regular file (links are never followed into an archive)"
    if not path.is_file():
        return "is missing or not a regular file"
    return None


def _tracked(folder: Path, pathspecs: list[str]) -> set[Path] | None:
    """The files git tracks among `pathspecs` under `folder`, or None when git is not installed or
    `folder` is not in a work tree (a source copy without history: the explicit lists alone decide)."""
    try:
        listed = subprocess.run(
            ["git", "ls-files", "-z", "--", *pathspecs], cwd=folder, capture_output=True, check=True
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    return {folder / os.fsdecode(name) for name in listed.split(b"\0") if name}


def _shown(path: Path) -> str:
    try:
        return str(path.relative_to(REPO_ROOT))
    except ValueError:
        return str(path)


def build_archive(function: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, path in archive_entries(function):
            info = zipfile.ZipInfo(name, date_time=FIXED_TIME)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, path.read_bytes())
    return buffer.getvalue()


def write_archive(function: str, outdir: Path) -> Path:
    """Write `<outdir>/<function>-<sha256 prefix>.zip` (unchanged when it already exists)."""
    payload = build_archive(function)
    path = outdir / f"{function}-{hashlib.sha256(payload).hexdigest()[:16]}.zip"
    if not path.exists():
        outdir.mkdir(parents=True, exist_ok=True)
        staging = path.with_suffix(".partial")
        staging.write_bytes(payload)
        staging.replace(path)
    return path
