"""Source archives for Cloud Functions: byte-identical for identical code, named by content hash.

An archive holds the function's folder (main.py, requirements.txt) at its root, plus the shared
modules it imports from this repository, so training and serving run the same feature code
without copies in the repository. Entries are sorted, timestamps and permissions fixed, and
`__pycache__` and tests left out: the same code gives the same bytes on any machine, hence the
same object name, hence no redeploy.
"""

from __future__ import annotations

import hashlib
import io
import zipfile
from pathlib import Path

from environments.config import REPO_ROOT

FUNCTIONS_DIR = REPO_ROOT / "functions"
# The repository modules each function imports (its own folder is always included).
SHARED_MODULES = {
    "pipeline_trigger": [
        "environments/__init__.py",
        "environments/config.py",
        "functions/__init__.py",
        "functions/http_json.py",
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
        "pipelines/__init__.py",
        "pipelines/data.py",
        "pipelines/spec.py",
        "pipelines/features.py",
        "pipelines/model.py",
        "pipelines/forecast.py",
        "pipelines/parameters.py",
        "pipelines/registry.py",
        "pipelines/vertex.py",
    ],
}
FIXED_TIME = (1980, 1, 1, 0, 0, 0)
EXCLUDED_PARTS = {"__pycache__", "tests", ".pytest_cache"}


def archive_entries(function: str) -> list[tuple[str, Path]]:
    """(name in archive, file) pairs, sorted."""
    folder = FUNCTIONS_DIR / function
    own = [
        (str(path.relative_to(folder)), path)
        for path in folder.rglob("*")
        if path.is_file() and not EXCLUDED_PARTS & set(path.relative_to(folder).parts) and path.suffix != ".pyc"
    ]
    shared = [(module, REPO_ROOT / module) for module in SHARED_MODULES[function]]
    return sorted(own + shared)


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
