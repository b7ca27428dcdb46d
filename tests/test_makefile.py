"""The Makefile is the user interface: every target is listed by `make help` with one line."""

from __future__ import annotations

import re
import subprocess

from tests.conftest import REPO_ROOT

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
