"""Pipeline parameters: the one table of names, defaults and ranges, and the checks built on it.

`DEFAULTS` and `PIPELINE_PARAMETERS` say which parameters each pipeline takes and their defaults
(definitions.py builds the KFP pipelines from them; a test compares the compiled templates with
this table). `RULES` holds the range of every value. `check` refuses unknown names, wrong types,
oversized and out-of-range values, with one (field, message) per problem; where a parameter must
stay inside an environment (`registry_uri`, `source`) is submission.py's job.

Free of pandas: the trigger function ships this module.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from environments.messages import kind_of
from environments.naming import SOURCE_URL
from pipelines.logic.spec import REFERENCE, SECONDS_PER_DAY, DataSpec, frequency_seconds

_TYPES = {
    "STRING": (str, "a string"),
    "NUMBER_INTEGER": (int, "an integer"),
    "NUMBER_DOUBLE": ((int, float), "a number"),
    "BOOLEAN": (bool, "true or false"),
    "STRUCT": (dict, "a JSON object"),
    "LIST": (list, "a JSON list"),
}
MAX_VALUE_CHARS = 10_000
METRICS = ("mae", "rmse", "mape")  # what evaluation.metrics computes and the gate may compare on
SOURCES = ("source", "training_source")  # parameters naming a series to read ("" for training_source: `source`)
REQUIRED = object()  # no default: the caller gives it (registry_uri: the CLI and the trigger do)


@dataclass(frozen=True)
class Range:
    low: float
    high: float
    integer: bool = False

    def problem(self, value: Any) -> str | None:
        if isinstance(value, bool) or not isinstance(value, int | float):
            return f"{shown(value)} is {kind_of(value)}; expected {'an integer' if self.integer else 'a number'}"
        if (isinstance(value, float) and not math.isfinite(value)) or not self.low <= value <= self.high:
            return f"{shown(value)} is out of range; expected {self.low:g} to {self.high:g}"
        if self.integer and value != int(value):
            return f"{shown(value)} is not a whole number; expected an integer from {self.low:g} to {self.high:g}"
        return None


# XGBoost settings a run may choose, with their ranges; any other key is refused (it would reach
# XGBRegressor unchecked: devices, thread counts, objectives).
MODEL_PARAMS = {
    "n_estimators": Range(1, 2000, integer=True),
    "max_depth": Range(1, 16, integer=True),
    "max_leaves": Range(0, 1024, integer=True),
    "max_bin": Range(16, 1024, integer=True),
    "learning_rate": Range(0.001, 1),
    "subsample": Range(0.1, 1),
    "colsample_bytree": Range(0.1, 1),
    "min_child_weight": Range(0, 100),
    "gamma": Range(0, 1000),
    "reg_alpha": Range(0, 1000),
    "reg_lambda": Range(0, 1000),
}
MAX_COLUMN_CHARS = 128
MAX_EXOGENOUS_COLUMNS = 20
EXPERIMENT = re.compile(r"[a-z0-9][a-z0-9-]{0,127}")  # Vertex AI experiment names
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")

DEFAULT_DATA_SPEC = DataSpec().to_dict()
DEFAULTS: dict[str, Any] = {
    "registry_uri": REQUIRED,
    "source": REFERENCE,
    "training_source": "",  # monitoring retrains on its own `source` unless this names another
    "data_spec": DEFAULT_DATA_SPEC,
    "holdout_days": 7,
    "model_params": {},
    "metric": "mae",
    "promotion_margin": 0.01,
    "experiment": "",
    "horizon": 0,  # 0: one whole day at the data's frequency (forecast.forecast)
    "drift_threshold": 0.5,
    "day": "",
    "source_url": "",
    "degradation_ratio": 1.0,
    "degradation_days": 3,
    "drift_window_days": 7,
}
KFP_TYPES = {
    "registry_uri": "STRING",
    "source": "STRING",
    "training_source": "STRING",
    "data_spec": "STRUCT",
    "holdout_days": "NUMBER_INTEGER",
    "model_params": "STRUCT",
    "metric": "STRING",
    "promotion_margin": "NUMBER_DOUBLE",
    "experiment": "STRING",
    "horizon": "NUMBER_INTEGER",
    "drift_threshold": "NUMBER_DOUBLE",
    "day": "STRING",
    "source_url": "STRING",
    "degradation_ratio": "NUMBER_DOUBLE",
    "degradation_days": "NUMBER_INTEGER",
    "drift_window_days": "NUMBER_INTEGER",
}
PIPELINE_PARAMETERS = {
    "training": (
        "registry_uri",
        "source",
        "data_spec",
        "holdout_days",
        "model_params",
        "metric",
        "promotion_margin",
        "experiment",
    ),
    "prediction": ("registry_uri", "source", "data_spec", "horizon"),
    "monitoring": (
        "registry_uri",
        "source",
        "data_spec",
        "drift_threshold",
        "training_source",
        "holdout_days",
        "promotion_margin",
        "experiment",
    ),
    # One day of the daily cycle: `day` empty means the day before the run (the trigger sets the
    # day before the scheduled firing); `source` is the reference series or the data bucket's drop
    # folder, `source_url` (when set) an HTTP(S) CSV endpoint instead.
    "daily": (
        "registry_uri",
        "day",
        "source",
        "source_url",
        "data_spec",
        "degradation_ratio",
        "degradation_days",
        "drift_threshold",
        "drift_window_days",
        "holdout_days",
        "metric",
        "promotion_margin",
    ),
}


def shown(value: Any) -> str:
    """A value as JSON, short enough for one line."""
    text = _json_or_none(value)
    if text is None:
        return "a very large number"
    return text if len(text) <= 100 else f"{text[:97]}..."


def _column(value: Any) -> str | None:
    if not isinstance(value, str) or not 0 < len(value) <= MAX_COLUMN_CHARS:
        return f"{shown(value)} is not a column name; expected 1 to {MAX_COLUMN_CHARS} characters"
    return None


def data_spec_problems(value: dict) -> list[tuple[str, str]]:
    """(key, message) for each bad key of a data_spec."""
    known = DataSpec.__dataclass_fields__
    problems = [(key, f"unknown key {key!r}; expected one of {', '.join(known)}") for key in value if key not in known]
    for key in ("timestamp_column", "target_column"):
        if key in value and (problem := _column(value[key])):
            problems.append((key, problem))
    if "exogenous_columns" in value:
        columns = value["exogenous_columns"]
        if not isinstance(columns, list):
            problems.append(("exogenous_columns", f"{shown(columns)} is {kind_of(columns)}; expected a list of names"))
        elif len(columns) > MAX_EXOGENOUS_COLUMNS:
            problems.append(("exogenous_columns", f"{len(columns)} columns; expected at most {MAX_EXOGENOUS_COLUMNS}"))
        else:
            problems += [(f"exogenous_columns[{i}]", p) for i, c in enumerate(columns) if (p := _column(c))]
    if not problems:
        problems += _shared_columns(value)
    if "frequency" in value and frequency_seconds(value["frequency"]) is None:
        problems.append(
            ("frequency", f"{shown(value['frequency'])} is not a frequency that divides a day; expected e.g. 30min, 1h")
        )
    for key in ("target_min", "target_max"):
        # null: no bound (DataSpec: "None to allow any"), e.g. a net load or a temperature below 0.
        if value.get(key) is not None and (problem := Range(-1e15, 1e15).problem(value[key])):
            problems.append((key, problem))
    low, high = value.get("target_min"), value.get("target_max")
    if not problems and isinstance(low, int | float) and isinstance(high, int | float) and low >= high:
        problems.append(("target_max", f"{shown(high)} is not above target_min {shown(low)}"))
    return problems


def _shared_columns(value: dict) -> list[tuple[str, str]]:
    """A column named twice (as timestamp, target or exogenous): each must be a column of its own."""
    roles = [(key, value.get(key, getattr(DataSpec, key))) for key in ("timestamp_column", "target_column")]
    roles += [(f"exogenous_columns[{i}]", column) for i, column in enumerate(value.get("exogenous_columns", []))]
    first_role: dict[str, str] = {}
    problems = []
    for key, column in roles:
        if column in first_role:
            problems.append((key, f"{shown(column)} is already {first_role[column]}; expected a column of its own"))
        first_role.setdefault(column, key)
    return problems


def _data_spec(value: dict, values: dict) -> list[tuple[str, str]]:
    return data_spec_problems(value)


def _model_params(value: dict, values: dict) -> list[tuple[str, str]]:
    problems = []
    for key, setting in value.items():
        if key not in MODEL_PARAMS:
            problems.append((key, f"unknown setting {key!r}; expected one of {', '.join(MODEL_PARAMS)}"))
        elif problem := MODEL_PARAMS[key].problem(setting):
            problems.append((key, problem))
    return problems


def _in_range(rule: Range) -> Callable[[Any, dict], list[tuple[str, str]]]:
    return lambda value, values: [("", problem)] if (problem := rule.problem(value)) else []


def _one_of(choices: tuple[str, ...]) -> Callable[[Any, dict], list[tuple[str, str]]]:
    return lambda value, values: (
        [] if value in choices else [("", f"{shown(value)} is not one of {', '.join(choices)}")]
    )


def _horizon(value: int, values: dict) -> list[tuple[str, str]]:
    """1 to one day of periods at the data's frequency (features make forecasts up to a day ahead)."""
    spec = values.get("data_spec") if isinstance(values.get("data_spec"), dict) else DEFAULT_DATA_SPEC
    seconds = frequency_seconds(spec.get("frequency", DEFAULT_DATA_SPEC["frequency"]))
    if seconds is None:
        return []  # reported at data_spec.frequency
    return _in_range(Range(1, SECONDS_PER_DAY // seconds, integer=True))(value, values)


def _experiment(value: str, values: dict) -> list[tuple[str, str]]:
    if value == "" or EXPERIMENT.fullmatch(value):
        return []
    return [("", f"{shown(value)} is not an experiment name; expected lowercase letters, digits and hyphens")]


def _day(value: str, values: dict) -> list[tuple[str, str]]:
    if value == "" or (_DAY.fullmatch(value) and _is_date(value)):
        return []
    return [("", f"{shown(value)} is not a day; expected YYYY-MM-DD, or empty for the day before the run")]


def _is_date(value: str) -> bool:
    from datetime import date

    try:
        date.fromisoformat(value)
    except ValueError:
        return False
    return True


def _url(value: str, values: dict) -> list[tuple[str, str]]:
    if value == "" or SOURCE_URL.fullmatch(value):
        return []
    return [("", f"{shown(value)} is not an http(s) URL; expected e.g. https://data.acme.com/{{day}}.csv, or empty")]


def _non_empty(value: str, values: dict) -> list[tuple[str, str]]:
    return [] if value else [("", "empty; expected a value")]


# The range of every parameter, by name: (value, all values) -> [(sub-field, message)].
RULES: dict[str, Callable[[Any, dict], list[tuple[str, str]]]] = {
    "registry_uri": _non_empty,  # where it may point: submission.py
    "source": _non_empty,
    "training_source": lambda value, values: [],  # any string ("": the run's own source); where: submission.py
    "data_spec": _data_spec,
    # Two folds at least: a fold's interval coverage is measured on the other folds' residuals.
    "holdout_days": _in_range(Range(2, 60, integer=True)),
    "model_params": _model_params,
    "metric": _one_of(METRICS),
    "promotion_margin": _in_range(Range(0, 0.5)),
    "experiment": _experiment,
    "horizon": _horizon,
    "drift_threshold": _in_range(Range(0, 1)),
    "day": _day,
    "source_url": _url,
    "degradation_ratio": _in_range(Range(0.01, 10)),
    "degradation_days": _in_range(Range(1, 30, integer=True)),
    "drift_window_days": _in_range(Range(1, 60, integer=True)),
}


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


def table_template(pipeline: str) -> dict:
    """The table's view of a pipeline in the shape of a compiled template's inputs, for checks
    that have no template at hand (committed schedules, at synth)."""
    parameters = {}
    for name in PIPELINE_PARAMETERS[pipeline]:
        spec: dict[str, Any] = {"parameterType": KFP_TYPES[name]}
        if DEFAULTS[name] is not REQUIRED:
            spec |= {"isOptional": True, "defaultValue": DEFAULTS[name]}
        parameters[name] = spec
    return {"pipelineInfo": {"name": pipeline}, "root": {"inputDefinitions": {"parameters": parameters}}}


def check(template: dict, values: dict[str, Any], *, where: str = "parameters") -> list[tuple[str, str]]:
    """Problems as (field, message) pairs: unknown names, wrong types, oversized values, values out
    of range, missing required parameters."""
    known = parameters_of(template)
    problems = []
    for name, value in values.items():
        field = f"{where}.{name}"
        if name not in known:
            problems.append((field, f"unknown parameter {name!r}; expected one of {', '.join(sorted(known))}"))
            continue
        python_type, expected = _TYPES[known[name].type]
        text = _json_or_none(value)
        if (isinstance(value, bool) and known[name].type != "BOOLEAN") or not isinstance(value, python_type):
            problems.append((field, f"{shown(value)} is {kind_of(value)}; expected {expected}"))
        elif text is None or len(text) > MAX_VALUE_CHARS:
            size = f"{len(text)} characters" if text else "a number too large to read"
            problems.append((field, f"value is {size}; expected at most {MAX_VALUE_CHARS} characters"))
        elif name not in RULES:
            problems.append(
                (field, f"{name!r} has no range in pipelines/logic/parameters.py; expected a known parameter")
            )
        else:
            problems += [(f"{field}.{sub}" if sub else field, message) for sub, message in RULES[name](value, values)]
    for name, parameter in known.items():
        if parameter.required and name not in values:
            problems.append((f"{where}.{name}", f"required parameter {name!r} is missing"))
    if not problems and (rule := PIPELINE_RULES.get(template.get("pipelineInfo", {}).get("name"))):
        problems += [(f"{where}.{name}", message) for name, message in rule(values)]
    return problems


def _daily(values: dict) -> list[tuple[str, str]]:
    """The daily cycle forecasts each next day from the target alone: the day's source brings the
    day's observations, never the next day's values of a known-in-advance column."""
    columns = values.get("data_spec", {}).get("exogenous_columns")
    if not columns:
        return []
    return [
        (
            "data_spec.exogenous_columns",
            f"{shown(columns)}: the daily cycle forecasts from the target alone, and a day's source brings no "
            "values of the day ahead; expected none (a model with known-in-advance columns is trained and "
            "predicted with the training and prediction pipelines)",
        )
    ]


# Rules over a pipeline's parameters together, by pipeline (after each parameter's own RULES).
PIPELINE_RULES: dict[str, Callable[[dict], list[tuple[str, str]]]] = {"daily": _daily}


def _json_or_none(value: Any) -> str | None:
    try:
        return json.dumps(value)
    except ValueError:  # an integer of more digits than Python converts to text
        return None
