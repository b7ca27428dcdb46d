"""Pipeline parameters, read from a compiled template: names, types and defaults.

The CLI and the trigger function both check parameters against the template they are about to
run, so a typo or a wrong type is refused with a clear message before anything is submitted.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from environments.config import kind_of

_TYPES = {
    "STRING": (str, "a string"),
    "NUMBER_INTEGER": (int, "an integer"),
    "NUMBER_DOUBLE": ((int, float), "a number"),
    "BOOLEAN": (bool, "true or false"),
    "STRUCT": (dict, "a JSON object"),
    "LIST": (list, "a JSON list"),
}
MAX_VALUE_CHARS = 10_000


@dataclass(frozen=True)
class Parameter:
    name: str
    type: str
    required: bool
    default: Any = None


def parameters_of(template: dict) -> dict[str, Parameter]:
    """The pipeline's parameters, from a compiled template (its root input definitions)."""
    definitions = template["root"].get("inputDefinitions", {}).get("parameters", {})
    return {
        name: Parameter(name, spec["parameterType"], not spec.get("isOptional", False), spec.get("defaultValue"))
        for name, spec in definitions.items()
    }


def check(template: dict, values: dict[str, Any], *, where: str = "parameters") -> list[tuple[str, str]]:
    """Problems as (field, message) pairs: unknown names, wrong types, oversized values, missing
    required parameters."""
    known = parameters_of(template)
    problems = []
    for name, value in values.items():
        field = f"{where}.{name}"
        if name not in known:
            problems.append((field, f"unknown parameter {name!r}; expected one of {', '.join(sorted(known))}"))
            continue
        python_type, expected = _TYPES[known[name].type]
        if (isinstance(value, bool) and known[name].type != "BOOLEAN") or not isinstance(value, python_type):
            problems.append((field, f"{json.dumps(value)[:80]} is {kind_of(value)}; expected {expected}"))
        elif len(json.dumps(value)) > MAX_VALUE_CHARS:
            problems.append(
                (field, f"value is {len(json.dumps(value))} characters; expected at most {MAX_VALUE_CHARS}")
            )
    for name, parameter in known.items():
        if parameter.required and name not in values:
            problems.append((f"{where}.{name}", f"required parameter {name!r} is missing"))
    return problems
