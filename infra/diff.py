"""`make diff [BASE=origin/main]`: what a change does to every environment's infrastructure.

Synthesizes the working tree and BASE (in a temporary git worktree), then lists per stack the
resources added (+), removed (-) and changed (~) with each changed attribute, old -> new.
Resources are named `<type>.<construct path>`, the names a reviewer finds in infra/. `depends_on`
is left out: it orders the apply and changes no resource.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from environments.credentials import refused
from environments.loading import REPO_ROOT
from environments.messages import ConfigError

NOT_SET = "(not set)"
# Meta-arguments that order the apply but change no resource (Terraform plans nothing for them).
ORDERING_ONLY = ("depends_on",)


@dataclass
class StackDiff:
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    changed: dict[str, list[tuple[str, Any, Any]]] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.changed)


def resources(stack: dict) -> dict[str, dict]:
    """Resources and data sources by address (`type.construct/path`), without cdktn metadata."""
    found = {}
    for section, prefix in (("resource", ""), ("data", "data.")):
        for resource_type, items in stack.get(section, {}).items():
            for logical_id, body in items.items():
                path = body.get("//", {}).get("metadata", {}).get("path", f"/{logical_id}").split("/", 1)[1]
                found[f"{prefix}{resource_type}.{path}"] = {
                    k: v for k, v in body.items() if k != "//" and k not in ORDERING_ONLY
                }
    return found


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        items = value.items()
    elif isinstance(value, list) and any(isinstance(v, dict | list) for v in value):
        items = ((f"[{i}]", v) for i, v in enumerate(value))
    else:
        return {prefix: value}
    flat: dict[str, Any] = {}
    for key, child in items:
        name = f"{prefix}{key}" if str(key).startswith("[") or not prefix else f"{prefix}.{key}"
        flat |= flatten(child, name)
    return flat


def diff_stacks(before: dict, after: dict) -> StackDiff:
    old, new = resources(before), resources(after)
    result = StackDiff(added=sorted(new.keys() - old.keys()), removed=sorted(old.keys() - new.keys()))
    for address in sorted(old.keys() & new.keys()):
        was, now = flatten(old[address]), flatten(new[address])
        changes = [
            (key, was.get(key, NOT_SET), now.get(key, NOT_SET))
            for key in sorted(was.keys() | now.keys())
            if was.get(key, NOT_SET) != now.get(key, NOT_SET)
        ]
        if changes:
            result.changed[address] = changes
    return result


def format_diff(diffs: dict[str, StackDiff]) -> str:
    lines = []
    for name, stack in diffs.items():
        lines.append(f"{name}: {len(stack.added)} added, {len(stack.changed)} changed, {len(stack.removed)} removed")
        lines += [f"  + {address}" for address in stack.added]
        for address, changes in stack.changed.items():
            lines.append(f"  ~ {address}")
            lines += [f"      {key}: {json.dumps(was)} -> {json.dumps(now)}" for key, was, now in changes]
        lines += [f"  - {address}" for address in stack.removed]
    return "\n".join(lines)


def read_stacks(outdir: Path) -> dict[str, dict]:
    return {p.parent.name: json.loads(p.read_text()) for p in sorted(outdir.glob("stacks/*/cdk.tf.json"))}


def synthesize_ref(ref: str, scratch: Path) -> dict[str, dict]:
    """Synthesize the stacks of a git ref in a temporary worktree, with this virtualenv."""
    commit = _resolve(ref)
    tree = scratch / "base"
    _git("worktree", "add", "--detach", "--quiet", str(tree), commit)
    try:
        result = subprocess.run(
            [sys.executable, "-m", "infra.synth"], cwd=tree, capture_output=True, text=True, check=False
        )
        if result.returncode != 0:
            raise ConfigError([f"BASE: {ref} does not synthesize:\n{result.stderr.strip()}"])
        return read_stacks(tree / "infra" / "cdktf.out")
    finally:
        _git("worktree", "remove", "--force", str(tree))


def _resolve(ref: str) -> str:
    found = _git("rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}", check=False)
    if not found and ref.startswith("origin/"):  # CI clones are often shallow: fetch the target branch
        _git("fetch", "--no-tags", "--quiet", "origin", ref.removeprefix("origin/"), check=False)
        found = _git("rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}", check=False)
    if not found:
        raise ConfigError([f"BASE: {ref!r} is not a commit of this repository; expected a branch, tag or commit"])
    return found


def _git(*args: str, check: bool = True) -> str:
    result = subprocess.run(["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, check=False)
    if check and result.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)}: {result.stderr.strip()}")
    return result.stdout.strip() if result.returncode == 0 else ""


def main(argv: list[str] | None = None) -> int:
    from infra.policy import PolicyViolation
    from infra.synth import synthesize

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default="origin/main")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as scratch:
        try:
            before = synthesize_ref(args.base, Path(scratch))
            synthesize(None, outdir=Path(scratch) / "current")
        except (ConfigError, PolicyViolation) as error:
            return refused(error)
        after = read_stacks(Path(scratch) / "current")
    names = sorted(before.keys() | after.keys())
    diffs = {name: diff_stacks(before.get(name, {}), after.get(name, {})) for name in names}
    print(f"infrastructure diff against {args.base}")
    print(format_diff(diffs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
