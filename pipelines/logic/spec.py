"""What a series looks like: which columns hold what and how often it is sampled.

Kept apart from data.py and free of pandas at import, so that the stacks and the functions'
settings can name the default spec without loading pandas.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from functools import cached_property

REFERENCE = "reference"  # the `source` that names the reference dataset
REFERENCE_FREQUENCY = "30min"
# Frequencies: an optional count and a unit pandas reads the same way: 15min, 30min, 1h, 2h, 1D.
_FREQUENCY = re.compile(r"([1-9][0-9]{0,3})?(min|h|D)")
SECONDS_PER_DAY = 86_400
_UNIT_SECONDS = {"min": 60, "h": 3600, "D": SECONDS_PER_DAY}


def frequency_seconds(frequency: object) -> int | None:
    """Seconds between periods, or None unless `frequency` is a count and unit (min, h, D) that
    divides a day."""
    found = _FREQUENCY.fullmatch(frequency) if isinstance(frequency, str) else None
    if not found:
        return None
    seconds = int(found[1] or 1) * _UNIT_SECONDS[found[2]]
    return seconds if seconds <= SECONDS_PER_DAY and SECONDS_PER_DAY % seconds == 0 else None


# The largest value a series may hold, in size: the model computes in float32 (at most 3.4e38),
# and a value divided by the smallest level it uses (1e-9) stays far inside that.
VALUE_LIMIT = 1e20


def frequency_of(seconds: int) -> str:
    """A step in seconds written as a frequency is (`2h`, `30min`, `1D`); seconds when no unit divides it."""
    unit, size = next(((unit, size) for unit, size in reversed(_UNIT_SECONDS.items()) if seconds % size == 0), ("s", 1))
    return f"{seconds // size}{unit}"


def counted(count: int, one: str, many: str) -> str:
    """A count and the phrase that agrees with it: `1 value is`, `3 values are`."""
    return f"{count} {one if count == 1 else many}"


class DataValidationError(ValueError):
    """The data cannot be used; `problems` holds one line per problem."""

    def __init__(self, source: str, problems: list[str]):
        self.source = source
        self.problems = problems
        super().__init__("\n".join(f"{source}: {p}" for p in problems))


@dataclass(frozen=True)
class DataSpec:
    """Which columns of a CSV hold what, and how often it is sampled."""

    timestamp_column: str = "timestamp"
    target_column: str = "demand"
    exogenous_columns: tuple[str, ...] = field(default_factory=tuple)
    frequency: str = REFERENCE_FREQUENCY
    target_min: float | None = 0.0  # demand, sales and loads are never negative; None to allow any
    target_max: float | None = None

    @property
    def columns(self) -> list[str]:
        """Every column a series holds: timestamp, target, then the exogenous ones."""
        return [self.timestamp_column, self.target_column, *self.exogenous_columns]

    @cached_property  # read many times per forecast; the fields never change
    def periods_per_day(self) -> int:
        seconds = frequency_seconds(self.frequency)
        if seconds is None:
            raise DataValidationError(
                "frequency", [f"{self.frequency!r} is not a frequency that divides a day; expected e.g. 30min, 1h"]
            )
        return SECONDS_PER_DAY // seconds

    def to_dict(self) -> dict:
        """Plain values for KFP parameters (which cannot hold None: an unset bound is left out)."""
        values = asdict(self) | {"exogenous_columns": list(self.exogenous_columns)}
        return {key: value for key, value in values.items() if value is not None}

    @classmethod
    def from_dict(cls, values: dict) -> DataSpec:
        return cls(**(values | {"exogenous_columns": tuple(values.get("exogenous_columns", ()))}))
