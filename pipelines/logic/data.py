"""Reading and validating a time series: the reference dataset, a local CSV or a `gs://` CSV.

Validation fails fast with every problem at once, each naming the source, the column, what was
found and what was expected. Messages never quote the file's text (a header or a cell may hold
anything): they name columns the spec expects, counts, rows and timestamps.
"""

from __future__ import annotations

import ast
import importlib.util
import io
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from pipelines.logic.spec import (
    REFERENCE,
    REFERENCE_FREQUENCY,
    VALUE_LIMIT,
    DataSpec,
    DataValidationError,
    counted,
    frequency_of,
)

# Taylor (2003): half-hourly electricity demand in England and Wales (MW), Monday 5 June 2000 to
# Sunday 27 August 2000, 4032 observations. It ships inside the `pmdarima` package (MIT), from R's
# `forecast::taylor`; the series carries no timestamps, so they are assigned from its documented start.
REFERENCE_START = "2000-06-05 00:00"


def read_parquet(source: Path | str | bytes) -> pd.DataFrame:
    """A parquet file (its path, or its bytes) as a DataFrame, read in the calling thread alone.

    pandas' read_parquet starts Arrow's thread pools, whose threads can abort the process as it
    exits, after its work is done ("terminate called without an active exception",
    github.com/apache/arrow/issues/34314): a pipeline component then fails after writing its
    outputs. The platform's files are small: read without threads, they lose nothing."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    data = source if isinstance(source, bytes) else Path(source).read_bytes()
    return pq.ParquetFile(pa.BufferReader(data)).read(use_threads=False).to_pandas(use_threads=False)


def parse_timestamps(values: pd.Series) -> pd.Series:
    """Timestamps from text, NaT where a value is not one: ISO 8601 in any of its spellings, mixed
    freely (a T or a space, with or without seconds); a column in another format (30 Apr 2024, 10:00)
    in the format pandas infers from its first value, when that reads more of it.

    pandas alone infers one format from the first value and applies it to every row, so a column
    mixing `2024-04-30T10:00:00` and `2024-04-30 10:00:00` had its valid values refused."""
    iso = _to_datetime(values, format="ISO8601")
    if iso.notna().sum() == values.notna().sum():
        return iso
    inferred = _to_datetime(values)
    return iso if iso.notna().sum() >= inferred.notna().sum() else inferred


_ZONE_SUFFIX = r"(?:[Zz]|[+-]\d\d(?::?\d\d)?)\s*$"  # Z or an offset (+01, +0100, +01:00), at the end


def _to_datetime(values: pd.Series, **options) -> pd.Series:
    """pd.to_datetime, NaT where a value cannot be read. Times that share one offset keep it;
    offsets that change from row to row (a clock change, +00:00 then +01:00) name one instant each:
    they are read in UTC. Where times with and without an offset are mixed, the fewer kind is NaT
    (a time without an offset names no instant among times with one). pandas itself reads a time
    without an offset among times with changing offsets as UTC, and among times that share one
    offset as that offset: both are told from the text."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "Could not infer format": the problem says it
        warnings.simplefilter("ignore", FutureWarning)  # "mixed time zones will raise": handled here
        parsed = pd.to_datetime(values, errors="coerce", **options)
        datetimes = pd.api.types.is_datetime64_any_dtype(parsed)
        if datetimes and (parsed.dt.tz is None or pd.api.types.is_datetime64_any_dtype(values)):
            return parsed
        read = parsed.notna()
        zoned = values.astype("string").str.contains(_ZONE_SUFFIX, na=False)
        if datetimes and zoned[read].all():
            return parsed  # one offset throughout
        kept_zoned = bool(zoned[read].mean() >= 0.5)
        chosen = values.where(read & (zoned == kept_zoned))
        kept = pd.to_datetime(chosen, errors="coerce", **options)
        if kept_zoned and not pd.api.types.is_datetime64_any_dtype(kept):  # offsets that change
            kept = pd.to_datetime(chosen, errors="coerce", utc=True, **options)
    # Anything else pandas leaves as objects reads as no timestamps, never as a column of objects.
    return kept if pd.api.types.is_datetime64_any_dtype(kept) else pd.Series(pd.NaT, index=values.index)


_DAY_FIRST = r"^\s*(\d{1,2})[/.-]\d{1,2}[/.-](?:\d{4}|\d{2})\b"  # 13/01/2024: day, month, year


def _unread_timestamps_hint(values: pd.Series, unread: np.ndarray) -> str:
    """Why values that look like times were not read, when the others say it (never their text):
    dates written day first, which are read month first as long as the day is 12 or less; or times
    with an offset among times without one, or the other way round (`_to_datetime`)."""
    text, others = values[unread].astype("string"), values[~unread].astype("string")
    first_fields = text.str.extract(_DAY_FIRST, expand=False).dropna().astype(int)
    if len(first_fields) and (first_fields > 12).any():
        return (
            " (dates written day first, such as 13/01/2024, are read month first: days 1 to 12 are read as "
            "months; expected timestamps written YYYY-MM-DD HH:MM:SS)"
        )
    # An offset explains only times that read alone (not an empty cell or other text among them).
    if not len(others) or pd.to_datetime(text, errors="coerce", utc=True, format="ISO8601").isna().any():
        return ""
    zoned = text.str.contains(_ZONE_SUFFIX, na=False)
    others_zoned = others.str.contains(_ZONE_SUFFIX, na=False)
    if zoned.all() and not others_zoned.any():
        return " (written with a time-zone offset among times without one: expected an offset on every time, or none)"
    if not zoned.any() and others_zoned.all():
        return " (written without a time-zone offset among times with one: expected an offset on every time, or none)"
    return ""


def load_reference() -> pd.DataFrame:
    """The reference dataset as `timestamp, demand`, read from pmdarima's source without importing
    pmdarima (whose import pulls statsmodels and scikit-learn: seconds for one array)."""
    spec = importlib.util.find_spec("pmdarima")
    module = Path(spec.origin).parent / "datasets" / "taylor.py"
    tree = ast.parse(module.read_text())
    array = next(
        node.args[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "array" and node.args
    )
    values = ast.literal_eval(array)
    timestamps = pd.date_range(REFERENCE_START, periods=len(values), freq=REFERENCE_FREQUENCY)
    return pd.DataFrame({"timestamp": timestamps, "demand": pd.Series(values, dtype="float64")})


def read_source(source: str) -> pd.DataFrame:
    """`reference`, a local CSV path or a `gs://bucket/object.csv` (read with google-cloud-storage,
    which honours STORAGE_EMULATOR_HOST locally)."""
    if source == REFERENCE:
        return load_reference()
    if source.startswith("gs://"):
        from google.auth.exceptions import DefaultCredentialsError
        from google.cloud import storage

        bucket, _, name = source.removeprefix("gs://").partition("/")
        try:
            client = storage.Client()
        except DefaultCredentialsError:  # a local run on a machine without a login
            raise DataValidationError(
                source,
                [
                    "cannot be read: no Google Cloud credentials found; run `gcloud auth application-default "
                    "login` (with read access to the bucket), or copy the file here and give its path"
                ],
            ) from None
        try:
            payload = client.bucket(bucket).blob(name).download_as_bytes()
        except Exception as error:  # the client raises NotFound, Forbidden, ... all mean "unreadable"
            raise DataValidationError(source, [f"cannot be read: {error}"]) from None
        return _parse_csv(io.BytesIO(payload), source)
    path = Path(source)
    if not path.is_file():
        raise DataValidationError(source, ["no such file; expected a CSV path, a gs:// URI or 'reference'"])
    return _parse_csv(path, source)


def _parse_csv(handle, source: str) -> pd.DataFrame:
    try:
        return pd.read_csv(handle)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
        # One line: pandas ends some messages with a newline, which made two problems of one.
        raise DataValidationError(source, [f"is not a readable CSV ({' '.join(str(error).split())})"]) from None


def _header_hint(frame: pd.DataFrame, column: str) -> str:
    """A file read as one column whose name holds semicolons or tabs was separated by them; a
    header cell that is the column's name with spaces around it (`time, load_kw`) is that column."""
    if len(frame.columns) == 1:
        for name, delimiter in (("semicolons", ";"), ("tabs", "\t")):
            if delimiter in str(frame.columns[0]):
                return f" (its one header cell holds {name}: expected a CSV separated by commas)"
    if any(str(name).strip() == column for name in frame.columns):
        return f" (one is {column!r} with spaces around it: expected header cells without spaces)"
    return ""


def validate(
    frame: pd.DataFrame, spec: DataSpec, source: str, *, min_history: int = 0, allow_future_rows: bool = False
) -> pd.DataFrame:
    """Check and normalize a series: returns it sorted, indexed by timestamp, at a regular frequency.

    `min_history`: the fewest observed rows the caller needs. `allow_future_rows`: trailing rows
    without a target (future periods whose exogenous values are known) are kept, for prediction.
    """
    columns = spec.columns
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DataValidationError(
            source,
            # The header is file content: its size is named, never its text.
            [
                f"missing column {c!r}; the data has {counted(len(frame.columns), 'column', 'columns')}, none named "
                f"{c!r}{_header_hint(frame, c)}"
                for c in missing
            ],
        )
    frame = frame[columns].copy()

    problems: list[str] = []
    timestamps = parse_timestamps(frame[spec.timestamp_column])
    bad = timestamps.isna().to_numpy()
    if bad.any():
        position = int(bad.argmax())
        problems.append(
            f"column {spec.timestamp_column!r}: "
            f"{counted(int(bad.sum()), 'value is not a timestamp', 'values are not timestamps')}, "
            f"first in row {position + 1}{_unread_timestamps_hint(frame[spec.timestamp_column], bad)}"
        )
    frame[spec.timestamp_column] = timestamps
    duplicated = timestamps[timestamps.duplicated() & timestamps.notna()]
    if len(duplicated):
        problems.append(
            f"column {spec.timestamp_column!r}: "
            f"{counted(len(duplicated), 'duplicate timestamp', 'duplicate timestamps')}, first {duplicated.iloc[0]}"
        )
    # The remaining checks run on the rows that have a timestamp of their own, so that one pass
    # reports every kind of problem the file has.
    frame = frame[~bad & ~timestamps.duplicated(keep="first").to_numpy()]
    frame = frame.sort_values(spec.timestamp_column).set_index(spec.timestamp_column)

    # A row whose timestamp is unreadable leaves a hole in the grid: reported once, as that row.
    expected = pd.date_range(frame.index[0], frame.index[-1], freq=spec.frequency) if len(frame) else frame.index
    expected = frame.index if bad.any() else expected
    gaps = expected.difference(frame.index)
    off_grid = frame.index.difference(expected)
    if len(off_grid):
        problems.append(
            f"column {spec.timestamp_column!r}: {counted(len(off_grid), 'timestamp is', 'timestamps are')} off the "
            f"{spec.frequency} grid, first {off_grid[0]}; expected one row every {spec.frequency}"
            f"{_usual_spacing_note(frame.index, spec)}"
        )
    elif len(gaps):
        problems.append(
            f"column {spec.timestamp_column!r}: {counted(len(gaps), 'period is', 'periods are')} missing, "
            f"first {gaps[0]}; expected one row every {spec.frequency}{_usual_spacing_note(frame.index, spec)}"
        )

    # A cell that is not a number is reported as such, not again as empty: `empty` holds only the
    # cells that were empty in the input.
    empty_cells = {}
    for column in [spec.target_column, *spec.exogenous_columns]:
        numeric = pd.to_numeric(frame[column], errors="coerce")
        empty_cells[column] = frame[column].isna()
        not_numbers = frame[column][numeric.isna() & ~empty_cells[column]]
        if len(not_numbers):
            problems.append(
                f"column {column!r}: {counted(len(not_numbers), 'value is not a number', 'values are not numbers')}, "
                f"first at {not_numbers.index[0]}"
            )
        too_large = numeric.abs() > VALUE_LIMIT  # inf too
        oversized = numeric[too_large]
        if len(oversized):
            problems.append(
                f"column {column!r}: {counted(len(oversized), 'value is', 'values are')} infinite or too large, "
                f"first {oversized.iloc[0]:g} at {oversized.index[0]}; expected a finite number from "
                f"{-VALUE_LIMIT:g} to {VALUE_LIMIT:g}"
            )
        # Reported once: not again against the target's bounds.
        frame[column] = numeric.mask(too_large)

    target = frame[spec.target_column]
    observed_end = len(target) if not allow_future_rows else _last_observed(target) + 1
    empty = target.iloc[:observed_end][empty_cells[spec.target_column].iloc[:observed_end]]
    if len(empty):
        problems.append(
            f"column {spec.target_column!r}: {counted(len(empty), 'empty value', 'empty values')} (NaN), "
            f"first at {empty.index[0]}; expected a number in every row"
            + (" before the forecast rows" if allow_future_rows else "")
        )
    for column in spec.exogenous_columns:
        empty = frame[column][empty_cells[column]]
        if len(empty):
            problems.append(
                f"column {column!r}: {counted(len(empty), 'empty value', 'empty values')} (NaN), "
                f"first at {empty.index[0]}; expected a number in every row"
            )
    observed = target.iloc[:observed_end].dropna()
    if spec.target_min is not None and (observed < spec.target_min).any():
        low = observed[observed < spec.target_min]
        problems.append(
            f"column {spec.target_column!r}: {counted(len(low), 'value', 'values')} below {spec.target_min:g}, "
            f"first {low.iloc[0]:g} at {low.index[0]}"
        )
    if spec.target_max is not None and (observed > spec.target_max).any():
        high = observed[observed > spec.target_max]
        problems.append(
            f"column {spec.target_column!r}: {counted(len(high), 'value', 'values')} above {spec.target_max:g}, "
            f"first {high.iloc[0]:g} at {high.index[0]}"
        )
    if len(observed) < min_history:
        per_day = spec.periods_per_day
        problems.append(
            f"only {counted(len(observed), 'row', 'rows')} of history ({len(observed) / per_day:.1f} days); "
            f"expected at least {min_history} ({min_history / per_day:.1f} days at {spec.frequency})"
        )
    if problems:
        raise DataValidationError(source, problems)
    frame.index.name = spec.timestamp_column
    return frame


def _usual_spacing_note(index: pd.DatetimeIndex, spec: DataSpec) -> str:
    """`; most rows are 2h apart` when most rows are evenly spaced at another step than the spec's
    frequency (the spec, not the data, is then likely wrong); else nothing."""
    steps = pd.Series(index[1:] - index[:-1])
    if steps.empty:
        return ""
    usual = steps.mode().iloc[0]
    if usual == pd.Timedelta(spec.frequency) or (steps == usual).mean() < 0.5:
        return ""
    return f"; most rows are {frequency_of(int(usual.total_seconds()))} apart"


def _last_observed(target: pd.Series) -> int:
    positions = target.reset_index(drop=True).last_valid_index()
    return -1 if positions is None else int(positions)
