"""Checks that look at a whole stack at once while it synthesizes.

An aspect added to a stack is called once per construct, and each call is a round trip from jsii's
node process into Python, followed by more round trips to read the construct's type and attributes:
about a dozen per resource, most of a synth's time. A stack aspect instead reads the stack's
document (`TerraformStack.to_terraform()`: every resource and data source with its attributes
resolved) in one call and checks it in Python. The stack's checks share one aspect, added to an
empty construct of its own (a leaf), so jsii calls it once per synth, after every construct exists;
they run in the order they were added, on the document as it was before any of them amended the
stack.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import jsii
from cdktn import Annotations, Aspects, IAspect, TerraformDataSource, TerraformResource, TerraformStack
from constructs import Construct, IConstruct

SECTIONS = ("resource", "data")
# Construct class -> its Terraform type (a class constant, read through jsii once per process).
_TYPE_OF_CLASS: dict[type, str] = {}


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
    """One stack as it is about to be written: its document and, per Terraform type, its class."""

    stack: TerraformStack
    document: dict[str, Any]
    _classes: dict[str, type] | None = field(default=None, repr=False)

    @classmethod
    def read(cls, stack: TerraformStack) -> StackDocument:
        return cls(stack=stack, document=stack.to_terraform())

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
        """An error annotation on the construct these attributes belong to: synth fails naming its path."""
        Annotations.of(self._construct_at(attributes["//"]["metadata"]["path"])).add_error(message)

    def _construct_at(self, path: str) -> IConstruct:
        node: IConstruct = self.stack
        for part in path.split("/")[len(self.stack.node.path.split("/")) :]:
            node = node.node.find_child(part)
        return node


StackCheck = Callable[[StackDocument], None]
# The empty construct carrying a stack's checks (it adds nothing to the output).
CHECKS_ID = "stack-checks"


@jsii.implements(IAspect)
class _StackChecks:
    def __init__(self, stack: TerraformStack) -> None:
        self.stack = stack
        self.checks: list[StackCheck] = []

    def visit(self, node: IConstruct) -> None:
        document = StackDocument.read(self.stack)
        for check in self.checks:
            check(document)


def add_stack_check(stack: TerraformStack, check: StackCheck) -> None:
    """Call `check` with `stack`'s document once each time the stack synthesizes."""
    checks = getattr(stack, "_stack_checks", None)
    if checks is None:
        checks = stack._stack_checks = _StackChecks(stack)
        Aspects.of(Construct(stack, CHECKS_ID)).add(checks)
    checks.checks.append(check)
