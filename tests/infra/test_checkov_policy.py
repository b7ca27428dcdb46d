"""`make policy`: checkov over the real stacks passes with only the reasoned skips; the skip file is
strict, and a stale skip or an unlisted finding fails."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from environments.loading import REPO_ROOT
from environments.messages import ConfigError
from infra.policy.checkov import Finding, Skip, check, evaluate, load_skips, skipped_elsewhere


def test_real_stacks_pass_checkov_with_only_listed_skips(synth_outdir):
    report = check(["dev", "prod"], outdir=synth_outdir)
    assert report.failed == [] and report.unused == []
    assert report.passed > 100
    prod_skips = {(f.check, f.resource) for f, _ in report.skipped if f.environment == "prod"}
    assert prod_skips <= {
        ("CKV_GCP_49", "project-roles/deployer-cloudbuild-builds-editor-cloudbuild-deployer"),
        ("CKV_GCP_62", "access-logs/bucket"),
        ("CKV_GCP_49", "project-roles/composer-worker-composer-worker"),
        ("CKV_GCP_84", "functions/repository"),
        ("CKV_GCP_124", "function-predict/function"),
        ("CKV_GCP_80", "cycle/forecasts"),
    }


def test_every_skip_has_a_reason():
    assert all(len(skip.reason) >= 20 for skip in load_skips())


FINDING = Finding("dev", "CKV_GCP_62", "Bucket should log access", "data/bucket")
SKIP = Skip(check="CKV_GCP_62", resource="data/bucket", environments=["dev"], reason="a reason long enough to pass")


def test_a_finding_without_a_skip_fails():
    report = evaluate(10, [FINDING], [], ["dev"])
    assert report.failed == [FINDING] and not report.ok


def test_a_skip_applies_only_to_its_environments():
    prod_finding = Finding("prod", *list(FINDING.__dict__.values())[1:])
    report = evaluate(10, [FINDING, prod_finding], [SKIP], ["dev", "prod"])
    assert report.failed == [prod_finding] and [f for f, _ in report.skipped] == [FINDING]


def test_a_skip_matching_nothing_fails_so_the_file_stays_true():
    report = evaluate(10, [], [SKIP], ["dev"])
    assert report.unused == [(SKIP, "dev")] and not report.ok
    assert evaluate(10, [], [SKIP], ["prod"]).ok, "a dev skip is not stale when only prod is checked"


def test_a_skip_for_every_environment_applies_to_a_new_one_and_goes_stale_like_the_others():
    everywhere = Skip(check="CKV_GCP_62", resource="data/bucket", environments="all", reason="a reason long enough")
    staging = Finding("staging", *list(FINDING.__dict__.values())[1:])
    report = evaluate(10, [FINDING, staging], [everywhere], ["dev", "staging"])
    assert report.failed == [] and [f for f, _ in report.skipped] == [FINDING, staging] and report.ok
    assert evaluate(10, [], [everywhere], ["staging"]).unused == [(everywhere, "staging")]


def test_a_skip_is_stale_in_each_environment_it_lists_where_it_matches_nothing():
    """Listing prod where the check passes, or a name no environment has, was accepted unnoticed."""
    both = Skip(check=SKIP.check, resource=SKIP.resource, environments=["dev", "prod", "nosuchenv"], reason=SKIP.reason)
    report = evaluate(10, [FINDING], [both], ["dev", "prod"], ["dev", "prod"])
    assert [f for f, _ in report.skipped] == [FINDING]
    assert report.unused == [(both, "prod"), (both, "nosuchenv")] and not report.ok
    assert evaluate(10, [FINDING], [SKIP], ["dev", "prod"]).ok, "a dev skip used in dev is not stale"


def test_a_finding_skipped_in_other_environments_says_where_and_why():
    staging = Finding("staging", *list(FINDING.__dict__.values())[1:])
    assert skipped_elsewhere(staging, [SKIP]) == (
        "\n          skipped for dev in infra/policy/checkov_skips.yaml: a reason long enough to pass"
        "\n          add staging to that skip's environments if the reason holds for it too"
    )
    assert skipped_elsewhere(Finding("staging", "CKV_GCP_1", "another check", "data/bucket"), [SKIP]) == ""


def test_skip_file_without_reason_is_refused(tmp_path: Path):
    path = tmp_path / "skips.yaml"
    path.write_text("skips:\n  - {check: CKV_GCP_1, resource: a/b, environments: [dev]}\n")
    with pytest.raises(ConfigError) as raised:
        load_skips(path)
    assert raised.value.problems[0].endswith("skips[0].reason: required key is missing; expected a value")


def test_policy_without_synthesized_stacks_says_what_to_run(tmp_path: Path):
    with pytest.raises(ConfigError) as raised:
        check(["dev"], outdir=tmp_path)
    assert raised.value.problems == ["dev: no synthesized stack; run `make synth ENV=dev` first"]


def test_policy_cli_prints_a_summary_and_exits_zero(synth_outdir):
    result = subprocess.run(
        [sys.executable, "-m", "infra.policy.checkov", "--env", "prod", "--outdir", str(synth_outdir)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("checkov over prod: ") and " 0 failed, " in result.stdout
