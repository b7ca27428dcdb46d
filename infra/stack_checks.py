"""Checks that look at a whole stack at once, on the document its synth wrote.

Reading a stack through jsii costs a round trip to node for every construct and attribute. The
document `app.synth()` writes (`stacks/<name>/cdk.tf.json`) holds every resource and data source
with its attributes resolved, so the stacks' checks run on it, in Python, once synth has written
it (`CheckedApp`). A check reports a problem against a resource (`StackDocument.add_error`) or
amends the document (`StackDocument.add_depends_on`); a stack's checks run in the order they were
added. Amended documents are written back; a problem anywhere refuses the whole synth
(`PolicyViolation`), one line per problem naming the resource's construct path.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from cdktn import App, TerraformDataSource, TerraformResource, TerraformStack

from infra.policy import PolicyViolation

# Construct class -> its Terraform type (a class constant, read through jsii once per process).
_TYPE_OF_CLASS: dict[type, str] = {}
# How cdktn reports error annotations (`Annotations.of(construct).add_error`) when synth refuses them.
ANNOTATION_ERRORS = 'Encountered Annotations with level "ERROR":'


def resource_type(element: TerraformResource | TerraformDataSource) -> str:
    """`google_storage_bucket`; a data source's without the `data.` prefix."""
    cls = type(element)
    if cls not in _TYPE_OF_CLASS:
        declared = getattr(cls, "TF_RESOURCE_TYPE", None)  # generic classes (beta.py) have none
        if declared is None:
            return element.terraform_resource_type
        _TYPE_OF_CLASS[cls] = declared
    return _TYPE_OF_CLASS[cls]


def address(element: TerraformResource | TerraformDataSource) -> str:
    """`<type>.<logical id>`, the form Terraform's JSON `depends_on` takes (as cdktn writes it)."""
    prefix = "data." if isinstance(element, TerraformDataSource) else ""
    return f"{prefix}{resource_type(element)}.{element.friendly_unique_id}"


@dataclass
class StackDocument:
    """One synthesized stack: its document and, per Terraform type, the construct class declaring it."""

    stack: TerraformStack
    document: dict[str, Any]
    problems: list[str] = field(default_factory=list)
    amended: bool = False
    _classes: dict[str, type] | None = field(default=None, repr=False)

    def elements(self, section: str) -> Iterator[tuple[str, str, dict[str, Any]]]:
        """(Terraform type, logical id, attributes) of every resource (`resource`) or data source (`data`)."""
        for element_type, items in self.document.get(section, {}).items():
            for logical_id, attributes in items.items():
                yield element_type, logical_id, attributes

    def class_of(self, element_type: str) -> type:
        """The construct class declaring resources of `element_type` in this stack."""
        if self._classes is None:
            self._classes = {
                resource_type(node): type(node)
                for node in self.stack.node.find_all()
                if isinstance(node, TerraformResource)
            }
        return self._classes[element_type]

    def add_error(self, attributes: dict[str, Any], message: str) -> None:
        """A problem with the resource these attributes belong to, named by its construct path."""
        self.problems.append(f"[{attributes['//']['metadata']['path']}] {message}")

    def add_depends_on(self, attributes: dict[str, Any], addresses: list[str]) -> None:
        """The resource these attributes belong to also waits for `addresses` (after what it waited for)."""
        attributes["depends_on"] = [*attributes.get("depends_on", []), *addresses]
        self.amended = True


StackCheck = Callable[[StackDocument], None]


def add_stack_check(stack: TerraformStack, check: StackCheck) -> None:
    """Call `check` with `stack`'s document each time its app (a CheckedApp) synthesizes."""
    checks = getattr(stack, "_stack_checks", None)
    if checks is None:
        checks = stack._stack_checks = []
    checks.append(check)


class CheckedApp(App):
    """An App whose `synth()` also runs each stack's checks on the document it wrote.

    Raises PolicyViolation with every problem of every stack (and with cdktn's own error
    annotations), leaving the documents as synth wrote them; without a problem, the documents the
    checks amended are written back."""

    def synth(self) -> None:
        try:
            super().synth()
        except RuntimeError as error:
            if ANNOTATION_ERRORS not in str(error):
                raise
            raise PolicyViolation(annotation_lines(str(error))) from None
        outdir = Path(self.outdir)
        written = orjson.loads((outdir / "manifest.json").read_bytes())["stacks"]
        problems: list[str] = []
        amended: dict[Path, dict[str, Any]] = {}
        for stack in self.node.children:
            checks = getattr(stack, "_stack_checks", ())
            if not checks:
                continue
            path = outdir / written[stack.node.id]["synthesizedStackPath"]
            document = StackDocument(stack=stack, document=orjson.loads(path.read_bytes()))
            for check in checks:
                check(document)
            problems += document.problems
            if document.amended:
                amended[path] = document.document
        if problems:
            raise PolicyViolation(problems)
        for path, document in amended.items():
            # The bytes cdktn's JSON.stringify(document, null, 2) writes: two-space indents, UTF-8.
            path.write_bytes(orjson.dumps(document, option=orjson.OPT_INDENT_2))


def annotation_lines(message: str) -> list[str]:
    """The error annotations in the message of a synth that refused its stacks, one per line."""
    body = message.split(ANNOTATION_ERRORS, 1)[1].split("\n\nEither fix", 1)[0]
    return [line.strip() for line in body.strip().splitlines() if line.strip()]
