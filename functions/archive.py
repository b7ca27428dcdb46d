"""Source archives for Cloud Functions: exactly the files a function needs, byte-identical for
identical code, named by content hash.

An archive holds the function's own files (FUNCTION_FILES: main.py, requirements.txt) at its root,
plus the repository modules it imports (`shared_modules`: followed from main.py through every
import of the shipped packages, at any depth, except those under `if TYPE_CHECKING:`), so training
and serving run the same feature code without copies in the repository. Nothing else in the folder
is ever packaged (no `.env`, editor swap files, `.venv`, build output, caches).
Every packaged file must be a regular file (a symbolic link is refused, never followed) and, when
the repository is a git work tree, tracked by git; a function folder holding tracked files outside
FUNCTION_FILES is refused too, since they would be missing at run time. Problems raise ArchiveError
(a ConfigError, so `make synth` prints them without a traceback). Entries are sorted, timestamps and
permissions fixed: the same code gives the same bytes on any machine, hence the same object name,
hence no redeploy.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import io
import os
import subprocess
import zipfile
from pathlib import Path

from environments.loading import BUILD_DIR, REPO_ROOT
from environments.messages import ConfigError

FUNCTIONS_DIR = REPO_ROOT / "functions"
ARCHIVES_DIR = BUILD_DIR / "functions"  # where synth writes the archives its stacks upload
# The repository packages an archive may ship modules of (never infra or tools: they import the world).
SHIPPED_PACKAGES = ("environments", "functions", "pipelines")
# Each function folder's own files, at the archive's root.
FUNCTION_FILES = ("main.py", "requirements.txt")
FIXED_TIME = (1980, 1, 1, 0, 0, 0)


class ArchiveError(ConfigError):
    """A function's files cannot be packaged as they are; one line per file."""


def archive_entries(function: str) -> list[tuple[str, Path]]:
    """(name in archive, file) pairs, sorted; ArchiveError when any file is not fit to ship."""
    folder = FUNCTIONS_DIR / function
    own = [(name, folder / name) for name in FUNCTION_FILES]
    modules = shared_modules(function)
    shared = [(module, REPO_ROOT / module) for module in modules]
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
    tracked_shared = _tracked(REPO_ROOT, modules)
    if tracked_shared is not None:
        problems += [
            f"{_shown(path)}: not tracked by git; archives hold tracked files only (git add it)"
            for _, path in shared
            if path not in tracked_shared
        ]
    if problems:
        raise ArchiveError([f"function {function}: {problem}" for problem in problems])
    return sorted(own + shared)


def shared_modules(function: str) -> list[str]:
    """The repository files `functions/<function>/main.py` imports, directly or not, with the
    `__init__.py` of every package on the way; sorted paths relative to the repository."""
    found: set[str] = set()
    pending = [FUNCTIONS_DIR / function / "main.py"]
    while pending:
        for module in _imported_modules(pending.pop()):
            path = _module_file(module)
            if path is None:
                continue
            parts = Path(path).parts
            packages = {str(Path(*parts[:depth], "__init__.py")) for depth in range(1, len(parts))}
            for name in ({path} | packages) - found:
                found.add(name)
                pending.append(REPO_ROOT / name)
    return sorted(found)


def _imported_modules(path: Path) -> tuple[str, ...]:
    """Every module `path` imports (`from a import b` yields a.b and a), skipping the body of
    `if TYPE_CHECKING:` blocks (not their else)."""
    return _imports_in(path.read_text(), str(path))


@functools.cache  # the functions share most modules: each source is parsed once per process
def _imports_in(source: str, filename: str) -> tuple[str, ...]:
    modules: list[str] = []

    def visit(statements: list[ast.stmt]) -> None:
        # Imports are statements: only the statement lists of compound statements are walked, not
        # the expressions that make up most of a tree.
        for node in statements:
            if (
                isinstance(node, ast.If)
                and getattr(node.test, "id", getattr(node.test, "attr", None)) == "TYPE_CHECKING"
            ):
                visit(node.orelse)  # what runs when not type checking
                continue
            if isinstance(node, ast.Import):
                modules.extend(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                modules.append(node.module)
                modules.extend(f"{node.module}.{alias.name}" for alias in node.names)
            for field in ("body", "orelse", "finalbody", "handlers", "cases"):
                visit(getattr(node, field, ()))

    visit(ast.parse(source, filename=filename).body)
    return tuple(modules)


def _module_file(module: str) -> str | None:
    """`pipelines.logic.model` -> `pipelines/logic/model.py` (or a package's __init__.py), for shipped packages."""
    parts = module.split(".")
    if parts[0] not in SHIPPED_PACKAGES:
        return None
    for candidate in (Path(*parts).with_suffix(".py"), Path(*parts, "__init__.py")):
        if (REPO_ROOT / candidate).is_file():
            return str(candidate)
    return None


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
    return save_archive(function, build_archive(function), outdir)


def save_archive(function: str, payload: bytes, outdir: Path) -> Path:
    """Write an archive `build_archive` made as `<outdir>/<function>-<sha256 prefix>.zip`."""
    path = outdir / f"{function}-{hashlib.sha256(payload).hexdigest()[:16]}.zip"
    if not path.exists():
        outdir.mkdir(parents=True, exist_ok=True)
        staging = path.with_suffix(".partial")
        staging.write_bytes(payload)
        staging.replace(path)
    return path
