"""Error messages for configuration files and parameters: one line per problem, naming the
file, the key path, the bad value and what was expected. pydantic is imported only to describe its
errors, so the function archives can ship this module without it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pydantic import BaseModel


class ConfigError(Exception):
    """A configuration file is unreadable or invalid; `problems` holds one line per problem."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))


_TYPE_EXPECTATIONS = {
    "string_type": "a string",
    "int_type": "an integer",
    "int_from_float": "an integer",
    "float_type": "a number",
    "bool_type": "true or false",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
    "list_type": "a list",
}


_KINDS = {bool: "a boolean", int: "an integer", float: "a number", str: "a string", list: "a list", dict: "a mapping"}


def kind_of(value: Any) -> str:
    """What a parsed YAML or JSON value is, in words: 'a string', 'a list', ..."""
    return "null" if value is None else _KINDS.get(type(value), type(value).__name__)


def unknown_team(shown: str, names, *, environment: bool = False) -> str:
    """`shown` (a team name as the caller writes values) is not a team: what is expected instead,
    one of `names`, or none while there are none. With `environment`, `names` are the teams enabled
    in one environment (others may exist)."""
    if names:
        expected = f"expected one of {', '.join(sorted(names))}"
    elif environment:
        expected = "no team is enabled in this environment, so expected none"
    else:
        expected = "no team is onboarded, so expected none (make onboard-team adds one)"
    return f"{shown} is not a team{' of this environment' if environment else ''}; {expected}"


def value_and_kind(value: Any) -> str:
    return "empty" if value is None else f"{value!r} is {kind_of(value)}"


def describe(model: type[BaseModel], error: dict) -> str:
    """One pydantic error as 'key.path: what was wrong; what was expected'."""
    loc = error["loc"]
    kind = error["type"]
    value = error.get("input")
    where = _key_path(loc)
    if kind == "missing":
        return f"{where}: required key is missing; expected {_field_description(model, loc)}"
    if kind == "extra_forbidden":
        allowed = _allowed_keys(model, loc[:-1])
        return f"{where}: unknown key; expected one of {', '.join(allowed)}"
    if kind == "literal_error":
        return f"{where}: {value!r} is not one of {error['ctx']['expected'].replace(chr(39), '').replace(' or ', ', ')}"
    if kind in _TYPE_EXPECTATIONS:
        return f"{where}: {value_and_kind(value)}; expected {_TYPE_EXPECTATIONS[kind]}"
    if kind == "too_short":
        return f"{where}: none given; expected at least {error['ctx']['min_length']}"
    if kind in ("less_than_equal", "greater_than_equal"):
        bound, word = (
            (error["ctx"].get("le"), "most") if kind == "less_than_equal" else (error["ctx"].get("ge"), "least")
        )
        return f"{where}: {value!r} is out of range; expected at {word} {_number(bound)}"
    if kind in ("less_than", "greater_than"):
        bound, word = (error["ctx"].get("lt"), "less") if kind == "less_than" else (error["ctx"].get("gt"), "more")
        return f"{where}: {value!r} is out of range; expected {word} than {_number(bound)}"
    if kind == "value_error":
        return f"{where}: {value!r} is not valid; {error['ctx']['error']}"
    return f"{where}: {value!r} is not valid; {error['msg'][0].lower()}{error['msg'][1:]}"


def _number(bound: float) -> str:
    """A bound as the file would write it: 0, not the 0.0 pydantic keeps for a float field."""
    return f"{bound:g}" if isinstance(bound, float) else str(bound)


def _key_path(loc: tuple) -> str:
    parts = []
    for part in loc:
        if isinstance(part, int):
            parts.append(f"[{part}]")
        elif parts:
            parts.append(f".{part}")
        else:
            parts.append(str(part))
    return "".join(parts) or "top level"


def _model_at(model: type[BaseModel], loc: tuple) -> type[BaseModel] | None:
    """The nested model class a location points into, following fields and list items."""
    from pydantic import BaseModel

    current: Any = model
    for part in loc:
        if isinstance(part, int):
            continue
        if not (isinstance(current, type) and issubclass(current, BaseModel)) or part not in current.model_fields:
            return None
        current = _inner_model(current.model_fields[part].annotation)
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _inner_model(annotation: Any) -> Any:
    from pydantic import BaseModel

    for arg in getattr(annotation, "__args__", ()):
        if isinstance(arg, type) and issubclass(arg, BaseModel):
            return arg
    return annotation


def _allowed_keys(model: type[BaseModel], loc: tuple) -> list[str]:
    target = _model_at(model, loc)
    return sorted(target.model_fields) if target else []


def _field_description(model: type[BaseModel], loc: tuple) -> str:
    parent = _model_at(model, loc[:-1])
    field = parent.model_fields.get(loc[-1]) if parent else None
    return field.description if field and field.description else "a value"
