"""Collection: each day's new observations into the cycle's store, once per day.

A source answers one question: the rows of a given day. Three kinds (environments/schema.py
`CycleSource`):
- `ReplaySource`: a series revealed one day at a time (the reference series locally, with an
  optional level shift from a given day on, for `make simulate`);
- `HttpSource`: a CSV endpoint; `{day}` in its URL becomes the day (YYYY-MM-DD);
- `DropSource`: `<prefix><day>.csv` in the data bucket, where upstream systems write files.

`collect` is idempotent per day: a day already stored is left as it is and reported as such. The
day's rows are checked before anything is written: every period of the day exactly once, on the
grid, numbers in range. Data that is not there yet (late) or is bad raises `CollectionError`,
whose message names the source, the day and what was wrong, and the store is untouched.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Protocol

import pandas as pd

from pipelines.logic.cycle_store import CycleStore
from pipelines.logic.data import validate
from pipelines.logic.spec import DataSpec, DataValidationError


class CollectionError(Exception):
    """The day cannot be collected (yet): `late` when the source has nothing for it yet."""

    def __init__(self, message: str, *, late: bool = False):
        self.late = late
        super().__init__(message)


class Source(Protocol):
    name: str

    def rows(self, day: date) -> pd.DataFrame | None:
        """The source's rows for `day`, or None when it has none yet."""


def day_bounds(day: date) -> tuple[pd.Timestamp, pd.Timestamp]:
    start = pd.Timestamp(day)
    return start, start + pd.Timedelta(days=1)


@dataclass(frozen=True)
class ReplaySource:
    """A series revealed day by day; from `shift_day` on, the target is multiplied by `shift_factor`
    (a level shift, as when demand moves to a new regime)."""

    series: pd.DataFrame  # timestamp, target columns, as read (not indexed)
    spec: DataSpec
    shift_day: date | None = None
    shift_factor: float = 1.0
    name: str = "replay"

    def rows(self, day: date) -> pd.DataFrame | None:
        start, end = day_bounds(day)
        stamps = pd.to_datetime(self.series[self.spec.timestamp_column])
        rows = self.series[(stamps >= start) & (stamps < end)].copy()
        if rows.empty:
            return None
        if self.shift_day is not None and day >= self.shift_day:
            rows[self.spec.target_column] = rows[self.spec.target_column] * self.shift_factor
        return rows.reset_index(drop=True)

    @property
    def days(self) -> list[date]:
        stamps = pd.to_datetime(self.series[self.spec.timestamp_column])
        first, last = stamps.min().date(), stamps.max().date()
        return [first + timedelta(days=n) for n in range((last - first).days + 1)]


@dataclass(frozen=True)
class HttpSource:
    url: str  # `{day}` is replaced by the day
    timeout_seconds: float = 60

    @property
    def name(self) -> str:
        return self.url

    def rows(self, day: date) -> pd.DataFrame | None:
        import requests

        url = self.url.replace("{day}", day.isoformat())
        try:
            response = requests.get(url, timeout=self.timeout_seconds)
        except requests.RequestException as error:
            raise CollectionError(f"{url}: cannot be reached ({type(error).__name__})") from None
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise CollectionError(f"{url}: answered HTTP {response.status_code}; expected 200 with a CSV")
        return _parse_csv(response.content, url)


@dataclass(frozen=True)
class DropSource:
    bucket: str
    prefix: str  # ends with '/'

    @property
    def name(self) -> str:
        return f"gs://{self.bucket}/{self.prefix}"

    def rows(self, day: date) -> pd.DataFrame | None:
        from google.api_core.exceptions import NotFound
        from google.cloud import storage

        name = f"{self.prefix}{day.isoformat()}.csv"
        try:
            payload = storage.Client().bucket(self.bucket).blob(name).download_as_bytes()
        except NotFound:
            return None
        return _parse_csv(payload, f"gs://{self.bucket}/{name}")


def _parse_csv(payload: bytes, where: str) -> pd.DataFrame:
    try:
        return pd.read_csv(io.BytesIO(payload))
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
        raise CollectionError(f"{where}: is not a readable CSV ({type(error).__name__})") from None


def check_day(rows: pd.DataFrame, spec: DataSpec, day: date, where: str) -> pd.DataFrame:
    """The day's rows, validated: every period of the day exactly once, numbers in range. Rows of
    other days are dropped. Raises CollectionError naming every problem."""
    try:
        series = validate(rows, spec, where)
    except DataValidationError as error:
        raise CollectionError(f"{where}, day {day}: " + "; ".join(error.problems)) from None
    start, end = day_bounds(day)
    series = series[(series.index >= start) & (series.index < end)]
    expected = spec.periods_per_day
    if len(series) != expected:
        raise CollectionError(
            f"{where}, day {day}: {len(series)} of the day's {expected} periods; expected every period "
            f"from {start} to {end - pd.Timedelta(spec.frequency)}",
            late=len(series) == 0,
        )
    return series.reset_index()


@dataclass(frozen=True)
class Collected:
    day: date
    rows: int
    already: bool  # True when the day was stored before: nothing was written

    def describe(self) -> str:
        return f"{self.day}: already collected ({self.rows} rows)" if self.already else f"{self.day}: {self.rows} rows"


def collect(store: CycleStore, source: Source, day: date, spec: DataSpec) -> Collected:
    """Bring `day`'s observations into the store, once; CollectionError when they are late or bad."""
    if problem := store.spec_problem(spec):
        raise CollectionError(
            f"cycle store {store.root} {problem}; expected a day of its own series (each model's cycle has a store "
            "of its own: run it with that model's registry_uri)"
        )
    path = store.observations_path(day)
    if store.exists(path):
        return Collected(day, len(store.read_frame(path)), already=True)
    rows = source.rows(day)
    if rows is None or rows.empty:
        raise CollectionError(
            f"{source.name}: no observations for {day} yet; the stored series is unchanged", late=True
        )
    checked = check_day(rows, spec, day, source.name)
    store.write_frame(path, checked[spec.columns])
    store.record_spec(spec)
    return Collected(day, len(checked), already=False)


def history(store: CycleStore, spec: DataSpec, through: date | None = None) -> pd.DataFrame:
    """The collected series up to the end of `through` (all of it without), indexed by timestamp."""
    frame = store.observations()
    if frame.empty:
        return frame
    series = frame.set_index(spec.timestamp_column).sort_index()
    series.index = pd.DatetimeIndex(series.index)
    # A day not collected yet (late, or to be backfilled) stays a gap of empty rows on the grid,
    # so that features computed by position still look back whole days.
    series = series.reindex(pd.date_range(series.index[0], series.index[-1], freq=spec.frequency))
    series.index.name = spec.timestamp_column
    if through is not None:
        series = series[series.index < day_bounds(through)[1]]
    return series
