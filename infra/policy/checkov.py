"""`make policy [ENV=]`: checkov, offline, over the synthesized stacks.

Every failed check fails the run unless `checkov_skips.yaml` lists it for that resource and
environment with a reason; a listed skip that matches nothing fails the run too.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from environments.loading import environment_names, validate_file
from environments.messages import ConfigError
from infra import OUT_DIR

SKIP_FILE = Path(__file__).resolve().parent / "checkov_skips.yaml"
OFFLINE = {"BC_SKIP_MAPPING": "TRUE", "CKV_SKIP_PACKAGE_UPDATE_CHECK": "true", "LOG_LEVEL": "ERROR"}


EVERY_ENVIRONMENT = "all"  # a skip of what every stack has, whatever its settings


class Skip(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    check: Annotated[str, StringConstraints(pattern=r"^CKV2?_[A-Z]+_\d+$")]
    resource: Annotated[str, StringConstraints(min_length=1)]
    environments: Annotated[list[str], Field(min_length=1)] | Literal["all"]
    reason: Annotated[str, StringConstraints(min_length=20)]

    def applies_to(self, environment: str) -> bool:
        return self.environments == EVERY_ENVIRONMENT or environment in self.environments

    def is_for(self, finding: Finding) -> bool:
        """Whether this skip names the finding's check and resource (in any environment)."""
        return self.check == finding.check and self.resource == finding.resource

    def shown_environments(self) -> str:
        return "every environment" if self.environments == EVERY_ENVIRONMENT else ", ".join(self.environments)


class SkipFile(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    skips: list[Skip]


@dataclass(frozen=True)
class Finding:
    environment: str
    check: str
    name: str
    resource: str  # construct path inside the stack

    def __str__(self) -> str:
        return f"{self.environment}: {self.check} {self.resource}: {self.name}"


@dataclass
class Report:
    passed: int
    failed: list[Finding]
    skipped: list[tuple[Finding, Skip]]
    # (skip, environment): a skip that matched no finding of an environment it lists and that was
    # checked, or that lists a name no environment file has
    unused: list[tuple[Skip, str]]
    skips: list[Skip] = field(default_factory=list)  # the skip file it was judged by

    @property
    def ok(self) -> bool:
        return not self.failed and not self.unused


def load_skips(path: Path = SKIP_FILE) -> list[Skip]:
    return validate_file(SkipFile, path).skips


def run_checkov(stacks: dict[str, Path]) -> tuple[int, list[Finding]]:
    """Run checkov once over every stack file; return passed count and failed findings."""
    files = [arg for path in stacks.values() for arg in ("-f", str(path))]
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "checkov.main",
            "--skip-download",
            "--framework",
            "terraform_json",
            "--compact",
            "--quiet",
            "-o",
            "json",
            *files,
        ],
        capture_output=True,
        text=True,
        env={**os.environ, **OFFLINE},
        check=False,
    )
    if result.returncode not in (0, 1):
        raise RuntimeError(f"checkov failed (exit {result.returncode}):\n{result.stderr[-2000:]}")
    report = json.loads(result.stdout)
    reports = report if isinstance(report, list) else [report]
    by_file = {path.resolve(): name for name, path in stacks.items()}
    paths = {name: _construct_paths(path) for name, path in stacks.items()}
    passed, failed = 0, []
    for section in reports:
        passed += section["summary"]["passed"]
        for check in section["results"]["failed_checks"]:
            environment = by_file[Path(check["file_abs_path"]).resolve()]
            logical_id = check["resource"].split(".")[-1]
            failed.append(
                Finding(
                    environment, check["check_id"], check["check_name"], paths[environment].get(logical_id, logical_id)
                )
            )
    return passed, failed


def _construct_paths(stack_json: Path) -> dict[str, str]:
    """Logical id -> construct path without the stack prefix, e.g. `models/bucket`."""
    document = json.loads(stack_json.read_text())
    return {
        logical_id: body["//"]["metadata"]["path"].split("/", 1)[1]
        for section in ("resource", "data")
        for resources in document.get(section, {}).values()
        for logical_id, body in resources.items()
    }


def evaluate(
    passed: int, findings: list[Finding], skips: list[Skip], environments: list[str], known: list[str] | None = None
) -> Report:
    """Judge `findings` of the checked `environments` by `skips`. A skip is stale in each checked
    environment it lists where it matched nothing, and, given every environment there is (`known`),
    for each name it lists that is none of them."""
    report = Report(passed=passed, failed=[], skipped=[], unused=[], skips=skips)
    used: set[tuple[int, str]] = set()
    for finding in findings:
        match = next(
            (i for i, s in enumerate(skips) if s.is_for(finding) and s.applies_to(finding.environment)),
            None,
        )
        if match is None:
            report.failed.append(finding)
        else:
            used.add((match, finding.environment))
            report.skipped.append((finding, skips[match]))
    report.unused = [
        (skip, name)
        for i, skip in enumerate(skips)
        for name in environments
        if skip.applies_to(name) and (i, name) not in used
    ]
    if known is not None:
        report.unused += [
            (skip, name)
            for skip in skips
            if skip.environments != EVERY_ENVIRONMENT
            for name in skip.environments
            if name not in known
        ]
    return report


def skipped_elsewhere(finding: Finding, skips: list[Skip]) -> str:
    """For a failed finding that the skip file accepts in other environments: where, why, and what
    to do (a new environment with the same settings needs its name on that skip)."""
    for skip in skips:
        if skip.is_for(finding):
            return (
                f"\n          skipped for {skip.shown_environments()} in infra/policy/checkov_skips.yaml: "
                f"{skip.reason}\n          add {finding.environment} to that skip's environments if the reason "
                "holds for it too"
            )
    return ""


def check(environments: list[str], outdir: Path = OUT_DIR) -> Report:
    stacks = {name: outdir / "stacks" / name / "cdk.tf.json" for name in environments}
    missing = [name for name, path in stacks.items() if not path.exists()]
    if missing:
        raise ConfigError([f"{name}: no synthesized stack; run `make synth ENV={name}` first" for name in missing])
    passed, findings = run_checkov(stacks)
    return evaluate(passed, findings, load_skips(), environments, environment_names())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", help="environment name; all when omitted")
    parser.add_argument("--outdir", type=Path, default=OUT_DIR, help="where `make synth` wrote the stacks")
    args = parser.parse_args(argv)
    try:
        environments = [args.env] if args.env else environment_names()
        report = check(environments, outdir=args.outdir)
    except ConfigError as error:
        print("\n".join(error.problems), file=sys.stderr)
        return 2
    print(
        f"checkov over {', '.join(environments)}: {report.passed} passed, {len(report.failed)} failed, "
        f"{len(report.skipped)} skipped (infra/policy/checkov_skips.yaml)"
    )
    for finding, skip in report.skipped:
        print(f"  skipped {finding}\n          reason: {skip.reason}")
    for finding in report.failed:
        print(f"  FAILED  {finding}{skipped_elsewhere(finding, report.skips)}", file=sys.stderr)
    for skip, name in report.unused:
        why = "matches no finding there" if name in environments else "is not an environment"
        print(
            f"  UNUSED SKIP {skip.check} {skip.resource} for {name}: {why}; remove {name} from that skip's "
            "environments (or the skip) in infra/policy/checkov_skips.yaml",
            file=sys.stderr,
        )
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
