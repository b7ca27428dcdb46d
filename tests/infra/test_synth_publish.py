"""`make synth` publishes every stack and the manifest in one atomic step (a symlink swapped by
one rename), whatever point it is stopped at; leftovers of a stopped synth are removed by the next."""

from __future__ import annotations

import gc
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from environments.loading import REPO_ROOT
from infra.policy import PolicyViolation, rules
from infra.synth import synthesize
from tests.support.environments import write_environments


def staged(parent: Path) -> list[str]:
    return sorted(p.name for p in parent.iterdir() if p.name.startswith(".synth-out-"))


def snapshot(outdir: Path) -> dict[str, str]:
    return {str(p.relative_to(outdir)): p.read_text() for p in sorted(outdir.rglob("*.json"))}


@pytest.fixture
def published(environments_dir, tmp_path) -> Path:
    """Two fixture environments' stacks, freshly published: each test changes its own."""
    write_environments(environments_dir, ["nothing", "cmek"], team=False)
    outdir = tmp_path / "synth" / "out"
    outdir.parent.mkdir()
    synthesize(None, outdir=outdir)
    return outdir


def test_the_output_is_a_symlink_to_one_complete_staged_folder(published):
    assert published.is_symlink() and not os.readlink(published).startswith("/"), "relative: the repo can move"
    assert staged(published.parent) == [os.readlink(published)]
    manifest = json.loads((published / "manifest.json").read_text())
    assert sorted(manifest["stacks"]) == ["cmek", "nothing"]
    assert sorted(p.name for p in (published / "stacks").iterdir()) == ["cmek", "nothing"]
    assert gc.isenabled(), "synth turns the cyclic garbage collector off while it runs, then back on"


def test_a_failed_swap_leaves_the_previous_output_and_no_staging(published, monkeypatch):
    before, target = snapshot(published), os.readlink(published)

    def refuse(source, destination):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("infra.synth.os.replace", refuse)
    with pytest.raises(OSError, match="No space left"):
        synthesize(["nothing"], outdir=published)
    assert gc.isenabled(), "a failed synth turns the garbage collector back on too"
    assert os.readlink(published) == target and snapshot(published) == before
    assert staged(published.parent) == [target]


def test_a_policy_violation_leaves_the_previous_output_and_no_staging(published, monkeypatch):
    """The checks read the stacks synth wrote into the staged folder: refused, it is never published."""
    before, target = snapshot(published), os.readlink(published)

    def every_bucket(resource_class, resource_type, attributes):
        if resource_type == "google_storage_bucket":
            yield "is refused by this test"

    monkeypatch.setattr(rules, "RULES", (rules.Rule("test-rule", "refuses buckets", every_bucket),))
    with pytest.raises(PolicyViolation) as refused:
        synthesize(["nothing"], outdir=published)
    assert refused.value.problems and all(
        line.startswith("[nothing/") and line.endswith("[test-rule] google_storage_bucket is refused by this test")
        for line in refused.value.problems
    )
    assert os.readlink(published) == target and snapshot(published) == before
    assert staged(published.parent) == [target]


def test_a_killed_synth_is_cleaned_up_and_one_environment_carries_the_others_over(published):
    before, target = snapshot(published), os.readlink(published)
    script = (
        "import os, signal, sys\n"
        "import infra.synth as synth\n"
        "synth.os.replace = lambda *a: os.kill(os.getpid(), signal.SIGKILL)\n"
        f"synth.synthesize(['nothing'], outdir=synth.Path({str(published)!r}))\n"
    )
    killed = subprocess.run([sys.executable, "-c", script], cwd=REPO_ROOT, capture_output=True, check=False)
    assert killed.returncode == -signal.SIGKILL
    assert os.readlink(published) == target and snapshot(published) == before
    assert len(staged(published.parent)) == 2, "the killed synth left its staged folder, unpublished"

    synthesize(["nothing"], outdir=published)
    assert os.readlink(published) != target
    assert staged(published.parent) == [os.readlink(published)], "replaced and abandoned folders are removed"
    assert snapshot(published)["stacks/cmek/cdk.tf.json"] == before["stacks/cmek/cdk.tf.json"]
    manifest = json.loads((published / "manifest.json").read_text())
    assert sorted(manifest["stacks"]) == ["cmek", "nothing"]


def test_one_environment_does_not_carry_over_the_stack_of_a_deleted_one(published, environments_dir):
    (environments_dir / "cmek.yaml").unlink()
    synthesize(["nothing"], outdir=published)
    assert sorted(p.name for p in (published / "stacks").iterdir()) == ["nothing"]
    assert sorted(json.loads((published / "manifest.json").read_text())["stacks"]) == ["nothing"]


def test_output_of_an_older_synth_in_a_plain_folder_is_replaced(environments_dir, tmp_path):
    write_environments(environments_dir, ["nothing"], team=False)
    outdir = tmp_path / "out"
    (outdir / "stacks" / "old").mkdir(parents=True)
    synthesize(["nothing"], outdir=outdir)
    assert outdir.is_symlink() and sorted(p.name for p in (outdir / "stacks").iterdir()) == ["nothing"]
    assert staged(tmp_path) == [os.readlink(outdir)]
