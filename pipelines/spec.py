"""What a series looks like: which columns hold what and how often it is sampled.

Kept apart from data.py and free of pandas at import, so that the stacks and the functions'
settings can name the default spec without loading pandas.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

REFERENCE_FREQUENCY = "30min"


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
    def periods_per_day(self) -> int:
        import pandas as pd

        periods = pd.Timedelta("1D") / pd.Timedelta(self.frequency)
        if periods != int(periods) or periods < 1:
            raise DataValidationError(
                "frequency", [f"{self.frequency!r} does not divide a day; expected e.g. 30min, 1h"]
            )
        return int(periods)

    def to_dict(self) -> dict:
        """Plain values for KFP parameters (which cannot hold None: an unset bound is left out)."""
        values = asdict(self) | {"exogenous_columns": list(self.exogenous_columns)}
        return {key: value for key, value in values.items() if value is not None}

    @classmethod
    def from_dict(cls, values: dict) -> DataSpec:
        return cls(**(values | {"exogenous_columns": tuple(values.get("exogenous_columns", ()))}))
