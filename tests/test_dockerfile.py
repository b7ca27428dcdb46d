"""The components image: a base pinned by digest, uv at the Makefile's version, and a build context
without local environments, caches, build output, history or tests."""

from __future__ import annotations

import re

from environments.loading import REPO_ROOT


def test_the_base_image_is_pinned_by_digest():
    dockerfile = (REPO_ROOT / "pipelines" / "Dockerfile").read_text()
    bases = re.findall(r"^FROM (\S+)", dockerfile, re.MULTILINE)
    assert bases and all(re.fullmatch(r"[a-z0-9./:-]+@sha256:[0-9a-f]{64}", base) for base in bases), bases


def test_uv_is_installed_at_the_makefiles_version():
    makefile = (REPO_ROOT / "Makefile").read_text()
    dockerfile = (REPO_ROOT / "pipelines" / "Dockerfile").read_text()
    version = re.search(r"^UV_VERSION := (\S+)$", makefile, re.MULTILINE).group(1)
    assert re.search(r"^ARG UV_VERSION=(\S+)$", dockerfile, re.MULTILINE).group(1) == version
    assert 'pip install --no-cache-dir "uv==${UV_VERSION}"' in dockerfile


def test_dockerignore_keeps_local_state_out_of_the_context():
    ignored = {
        line for line in (REPO_ROOT / ".dockerignore").read_text().splitlines() if line and not line.startswith("#")
    }
    assert {".git", ".venv", ".cache", "build", "tests", "infra/cdktf.out", "**/__pycache__"} <= ignored
