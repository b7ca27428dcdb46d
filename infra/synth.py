"""`make synth [ENV=]`: synthesize one or every environment's stack, policy-checked by the aspects.

Writes `infra/cdktf.out/stacks/<env>/cdk.tf.json` and prints resources per type. Synthesis happens
in a temporary folder that is moved into place only when every requested stack synthesized: a bad
config or a policy violation exits non-zero and leaves the previous output untouched.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from collections import Counter
from pathlib import Path

from environments.config import ConfigError, load_environments
from infra import INFRA_DIR, OUT_DIR

ANNOTATION_ERRORS = 'Encountered Annotations with level "ERROR":'


class PolicyViolation(Exception):
    """A stack broke a platform rule; `problems` holds one line per violation."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))


def synthesize(names: list[str] | None = None, outdir: Path = OUT_DIR) -> dict[str, Path]:
    """Synthesize the named environments (all when None); return each stack's cdk.tf.json path."""
    environments = load_environments(names)
    from infra.app import build_app  # imported here: config errors never pay the jsii start-up

    staging = Path(tempfile.mkdtemp(prefix=".synth-", dir=INFRA_DIR))
    try:
        app = build_app(environments, staging)
        try:
            app.synth()
        except RuntimeError as error:
            if ANNOTATION_ERRORS not in str(error):
                raise
            raise PolicyViolation(_annotation_lines(str(error))) from None
        return _move_into_place(staging, outdir, [e.name for e in environments])
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _annotation_lines(message: str) -> list[str]:
    body = message.split(ANNOTATION_ERRORS, 1)[1].split("\n\nEither fix", 1)[0]
    return [line.strip() for line in body.strip().splitlines() if line.strip()]


def _move_into_place(staging: Path, outdir: Path, names: list[str]) -> dict[str, Path]:
    """Replace each stack folder with a rename, and merge the stacks into the manifest."""
    (outdir / "stacks").mkdir(parents=True, exist_ok=True)
    for name in names:
        target = outdir / "stacks" / name
        if target.exists():
            retired = staging / f"retired-{name}"
            target.rename(retired)
        (staging / "stacks" / name).rename(target)
    manifest_path = outdir / "manifest.json"
    staged = json.loads((staging / "manifest.json").read_text())
    if manifest_path.exists():
        manifest = json.loads(manifest_path.read_text())
        manifest["stacks"] = {**manifest.get("stacks", {}), **staged["stacks"]}
    else:
        manifest = staged
    partial = staging / "manifest.next.json"
    partial.write_text(json.dumps(manifest, indent=2))
    partial.replace(manifest_path)
    return {name: outdir / "stacks" / name / "cdk.tf.json" for name in names}


def resource_counts(stack_json: Path) -> Counter[str]:
    """Resources per type in a synthesized stack; data sources as `data.<type>`."""
    document = json.loads(stack_json.read_text())
    counts: Counter[str] = Counter()
    for section, prefix in (("resource", ""), ("data", "data.")):
        for resource_type, resources in document.get(section, {}).items():
            counts[prefix + resource_type] = len(resources)
    return counts


def format_counts(counts: dict[str, Counter[str]]) -> str:
    """A table of resources per type, one column per environment, with totals."""
    names = list(counts)
    types = sorted(set().union(*counts.values()))
    width = max([len("resource type"), *map(len, types)])
    lines = [f"{'resource type':<{width}}  " + "  ".join(f"{n:>6}" for n in names)]
    lines += [f"{t:<{width}}  " + "  ".join(f"{counts[n][t]:>6}" for n in names) for t in types]
    lines.append(f"{'total':<{width}}  " + "  ".join(f"{sum(counts[n].values()):>6}" for n in names))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", help="environment name (environments/<name>.yaml); all when omitted")
    args = parser.parse_args(argv)
    try:
        paths = synthesize([args.env] if args.env else None)
    except ConfigError as error:
        print("\n".join(error.problems), file=sys.stderr)
        return 2
    except PolicyViolation as error:
        print("synth refused: platform policy violations\n" + "\n".join(error.problems), file=sys.stderr)
        return 1
    for name, path in paths.items():
        print(f"{name}: {path.relative_to(INFRA_DIR.parent)}")
    print(format_counts({name: resource_counts(path) for name, path in paths.items()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
