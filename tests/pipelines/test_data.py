"""Reading and validating series: the reference dataset, CSVs (local and gs://), and bad data
failing with its clear message."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pipelines.logic.data import DataSpec, DataValidationError, read_source, validate

SPEC = DataSpec()


def test_reference_is_taylors_half_hourly_demand(reference):
    assert len(reference) == 4032
    assert reference["timestamp"].iloc[0] == pd.Timestamp("2000-06-05 00:00")
    assert reference["timestamp"].iloc[-1] == pd.Timestamp("2000-08-27 23:30")
    assert reference["demand"].iloc[:3].tolist() == [22262.0, 21756.0, 22247.0]


def test_any_csv_with_configured_columns(tmp_path, with_temperature):
    path = tmp_path / "load.csv"
    with_temperature.rename(columns={"timestamp": "ts", "demand": "load_mw"}).to_csv(path, index=False)
    spec = DataSpec(timestamp_column="ts", target_column="load_mw", exogenous_columns=("temperature",))
    series = validate(read_source(str(path)), spec, str(path))
    assert list(series.columns) == ["load_mw", "temperature"] and series.index.name == "ts"
    assert series.index.freq is None and len(series) == 4032


def test_gs_source_is_read_through_google_cloud_storage(gcs_emulator, reference):
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    client = storage.Client(project="test", credentials=AnonymousCredentials())
    client.create_bucket("demand-data").blob("uk/taylor.csv").upload_from_string(reference.to_csv(index=False))
    frame = read_source("gs://demand-data/uk/taylor.csv")
    assert len(frame) == 4032 and list(frame.columns) == ["timestamp", "demand"]
    with pytest.raises(DataValidationError, match=r"^gs://demand-data/missing.csv: cannot be read"):
        read_source("gs://demand-data/missing.csv")


def test_a_gs_source_without_credentials_says_how_to_get_them(monkeypatch, tmp_path):
    """A local run given the README's gs:// example on a machine with no login: google.auth's
    DefaultCredentialsError reached the run's summary as its class name and text."""
    for variable in ("GOOGLE_APPLICATION_CREDENTIALS", "STORAGE_EMULATOR_HOST", "GOOGLE_CLOUD_PROJECT"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path / "gcloud"))
    monkeypatch.setenv("NO_GCE_CHECK", "True")
    with pytest.raises(DataValidationError) as raised:
        read_source("gs://demand-data/uk/load.csv")
    assert str(raised.value) == (
        "gs://demand-data/uk/load.csv: cannot be read: no Google Cloud credentials found; run `gcloud auth "
        "application-default login` (with read access to the bucket), or copy the file here and give its path"
    )


def test_missing_file_and_unreadable_csv(tmp_path):
    with pytest.raises(DataValidationError) as raised:
        read_source(str(tmp_path / "nope.csv"))
    assert raised.value.problems == ["no such file; expected a CSV path, a gs:// URI or 'reference'"]
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(DataValidationError, match="is not a readable CSV"):
        read_source(str(empty))


def problems_of(frame, spec=SPEC, **options) -> list[str]:
    with pytest.raises(DataValidationError) as raised:
        validate(frame, spec, "data.csv", **options)
    assert str(raised.value).startswith("data.csv: ")
    return raised.value.problems


def test_missing_column_names_the_expected_column_and_the_count_only(reference):
    assert problems_of(reference.rename(columns={"demand": "load"})) == [
        "missing column 'demand'; the data has 2 columns, none named 'demand'"
    ]


@pytest.mark.parametrize(
    ("text", "problems"),
    [
        (  # a European spreadsheet export reads as one column: the hint names the separator, not the text
            "timestamp;demand\n2000-06-05 00:00:00;31000\n",
            [
                f"missing column '{column}'; the data has 1 column, none named '{column}' (its one header cell "
                "holds semicolons: expected a CSV separated by commas)"
                for column in ("timestamp", "demand")
            ],
        ),
        (  # `time, load_kw` reads as the columns 'time' and ' load_kw'
            "timestamp, demand\n2000-06-05 00:00:00, 31000\n",
            [
                "missing column 'demand'; the data has 2 columns, none named 'demand' (one is 'demand' with spaces "
                "around it: expected header cells without spaces)"
            ],
        ),
    ],
    ids=["semicolons", "spaces after commas"],
)
def test_a_header_that_names_the_columns_otherwise_is_told_so(tmp_path, text, problems):
    path = tmp_path / "sales.csv"
    path.write_text(text)
    with pytest.raises(DataValidationError) as raised:
        validate(read_source(str(path)), SPEC, str(path))
    assert raised.value.problems == problems


def test_a_row_with_too_many_fields_is_one_problem_on_one_line(tmp_path):
    """pandas ends this message with a newline: it was counted as two problems, the last one ')'."""
    path = tmp_path / "ragged.csv"
    path.write_text("timestamp,demand\n2000-06-05 00:00:00,31000\n2000-06-05 00:30:00,31000,7\n")
    with pytest.raises(DataValidationError) as raised:
        read_source(str(path))
    assert raised.value.problems == [
        "is not a readable CSV (Error tokenizing data. C error: Expected 2 fields in line 3, saw 3)"
    ]


@pytest.mark.parametrize(
    ("written", "problem"),
    [
        (
            lambda stamps: stamps.strftime("%d/%m/%Y %H:%M"),
            "432 values are not timestamps, first in row 289 (dates written day first, such as 13/01/2024, are "
            "read month first: days 1 to 12 are read as months; expected timestamps written YYYY-MM-DD HH:MM:SS)",
        ),
        (
            lambda stamps: [f"{t.isoformat()}{'+01:00' if i == 700 else ''}" for i, t in enumerate(stamps)],
            "1 value is not a timestamp, first in row 701 (written with a time-zone offset among times without "
            "one: expected an offset on every time, or none)",
        ),
        (  # pandas read it in the others' offset, as if it had one
            lambda stamps: [f"{t.isoformat()}{'' if i == 700 else '+01:00'}" for i, t in enumerate(stamps)],
            "1 value is not a timestamp, first in row 701 (written without a time-zone offset among times with "
            "one: expected an offset on every time, or none)",
        ),
        (
            lambda stamps: [t.isoformat() if i != 5 else "soon" for i, t in enumerate(stamps)],
            "1 value is not a timestamp, first in row 6",
        ),
        (  # no day-first date inside a year-first one
            lambda stamps: [t.isoformat() if i != 5 else "2024-02-30 00:00:00" for i, t in enumerate(stamps)],
            "1 value is not a timestamp, first in row 6",
        ),
        (  # text is no time written without an offset
            lambda stamps: [f"{t.isoformat()}+01:00" if i != 5 else "soon" for i, t in enumerate(stamps)],
            "1 value is not a timestamp, first in row 6",
        ),
    ],
    ids=[
        "day first",
        "one offset among none",
        "none among one offset",
        "no pattern",
        "an impossible date",
        "text among offsets",
    ],
)
def test_timestamps_that_cannot_be_read_say_why_when_the_others_show_it(written, problem):
    """A day-first file read month first counted 'values that are not timestamps' from the 13th on;
    an offset among plain times was 'not a timestamp' too, with no word of offsets."""
    stamps = pd.date_range("2024-01-01", periods=24 * 30, freq="1h")
    frame = pd.DataFrame({"timestamp": written(stamps), "demand": np.arange(len(stamps), dtype=float)})
    problems = problems_of(frame, DataSpec(frequency="1h"))
    assert problems[0] == f"column 'timestamp': {problem}"


def test_errors_never_echo_the_files_text(tmp_path):
    secret = tmp_path / "secret.csv"
    secret.write_text("password=hunter2,api_key=AKIA123\nx,y\n")
    frame = read_source(str(secret))
    with pytest.raises(DataValidationError) as raised:
        validate(frame, SPEC, str(secret))
    assert "hunter2" not in str(raised.value) and "AKIA123" not in str(raised.value)
    assert raised.value.problems == [
        "missing column 'timestamp'; the data has 2 columns, none named 'timestamp'",
        "missing column 'demand'; the data has 2 columns, none named 'demand'",
    ]


def test_nans_in_the_target(reference):
    frame = reference.copy()
    frame.loc[[100, 200], "demand"] = np.nan
    assert problems_of(frame) == [
        "column 'demand': 2 empty values (NaN), first at 2000-06-07 02:00:00; expected a number in every row"
    ]


def test_too_short_a_history(reference):
    assert problems_of(reference.head(96), min_history=480) == [
        "only 96 rows of history (2.0 days); expected at least 480 (10.0 days at 30min)"
    ]


def test_values_out_of_range_and_not_numbers(reference):
    frame = reference.astype({"demand": object})
    frame.loc[5, "demand"] = -3.0
    frame.loc[7, "demand"] = "n/a"  # text: not a number, and not reported again as empty
    frame.loc[9, "demand"] = None
    high = reference[reference["demand"] > 38000]
    assert problems_of(frame, DataSpec(target_max=38000)) == [
        "column 'demand': 1 value is not a number, first at 2000-06-05 03:30:00",
        "column 'demand': 1 empty value (NaN), first at 2000-06-05 04:30:00; expected a number in every row",
        "column 'demand': 1 value below 0, first -3 at 2000-06-05 02:30:00",
        f"column 'demand': {len(high)} values above 38000, first {high['demand'].iloc[0]:g} at "
        f"{high['timestamp'].iloc[0]}",
    ]


def test_infinite_or_oversized_values_are_refused_once_before_any_model_sees_them(tmp_path, with_temperature):
    """Read from a CSV as a user writes them: `inf` and 1e300 are numbers to pandas, and would
    overflow the model's float32 features (XGBoost then fails with a traceback)."""
    frame = with_temperature.astype({"demand": object, "temperature": object})
    frame.loc[3, "demand"] = "-inf"  # below the spec's minimum 0 as well: reported once
    frame.loc[6, "demand"] = "1e300"
    frame.loc[8, "temperature"] = "inf"
    frame.loc[9, "demand"] = 1e20  # the limit itself is a value
    path = tmp_path / "load.csv"
    frame.to_csv(path, index=False)
    with pytest.raises(DataValidationError) as refused:
        validate(read_source(str(path)), DataSpec(exogenous_columns=("temperature",)), "load.csv")
    assert refused.value.problems == [
        "column 'demand': 2 values are infinite or too large, first -inf at 2000-06-05 01:30:00; "
        "expected a finite number from -1e+20 to 1e+20",
        "column 'temperature': 1 value is infinite or too large, first inf at 2000-06-05 04:00:00; "
        "expected a finite number from -1e+20 to 1e+20",
    ]


def test_offsets_that_change_at_a_clock_change_read_as_one_series_in_utc(reference):
    """London moved from +00:00 to +01:00 at 01:00 UTC on 26 March 2000: local times with their
    offsets are one regular series of instants. A time without an offset among them names none."""
    instants = pd.date_range("2000-03-20", periods=len(reference), freq="30min", tz="UTC")
    local = reference.assign(timestamp=[t.isoformat() for t in instants.tz_convert("Europe/London")])
    assert {stamp[-6:] for stamp in local["timestamp"]} == {"+00:00", "+01:00"}
    series = validate(local, SPEC, "local.csv")
    assert series.index.equals(pd.DatetimeIndex(instants, name="timestamp"))
    assert series["demand"].tolist() == reference["demand"].tolist()
    hours_only = local.assign(timestamp=local["timestamp"].str[:-3])  # +00 and +01: ISO 8601 too
    assert validate(hours_only, SPEC, "local.csv").index.equals(series.index)
    local.loc[0, "timestamp"] = local.loc[0, "timestamp"][:-6]  # the fewer kind is refused, even first
    assert problems_of(local) == [
        "column 'timestamp': 1 value is not a timestamp, first in row 1 (written without a time-zone offset among "
        "times with one: expected an offset on every time, or none)"
    ]


def test_bad_timestamps_duplicates_gaps_and_off_grid(reference):
    frame = reference.astype({"timestamp": object})
    frame.loc[3, "timestamp"] = "yesterday"
    assert problems_of(frame) == ["column 'timestamp': 1 value is not a timestamp, first in row 4"]
    assert problems_of(pd.concat([reference, reference.tail(1)])) == [
        "column 'timestamp': 1 duplicate timestamp, first 2000-08-27 23:30:00"
    ]
    assert problems_of(reference.drop(index=[10, 11])) == [
        "column 'timestamp': 2 periods are missing, first 2000-06-05 05:00:00; expected one row every 30min"
    ]
    shifted = reference.copy()
    shifted.loc[20, "timestamp"] += pd.Timedelta("7min")
    assert problems_of(shifted)[0].startswith("column 'timestamp': 1 timestamp is off the 30min grid")


def test_data_at_another_frequency_than_the_spec_says_so(reference):
    """Most rows evenly spaced at another step: the spec's frequency is likely what is wrong."""
    two_hourly = reference.iloc[::4]
    assert problems_of(two_hourly) == [
        f"column 'timestamp': {3 * (len(two_hourly) - 1)} periods are missing, first 2000-06-05 00:30:00; "
        "expected one row every 30min; most rows are 2h apart"
    ]
    assert problems_of(reference, DataSpec(frequency="1h")) == [
        f"column 'timestamp': {len(reference) // 2} timestamps are off the 1h grid, first 2000-06-05 00:30:00; "
        "expected one row every 1h; most rows are 30min apart"
    ]
    assert problems_of(reference.drop(index=[10, 11])) == [  # a few gaps: the spacing is the spec's
        "column 'timestamp': 2 periods are missing, first 2000-06-05 05:00:00; expected one row every 30min"
    ]


def test_timestamps_are_read_in_any_iso_spelling_or_one_other_format(reference, series):
    """Mixed ISO 8601 spellings (a T or a space) are one column of timestamps; a column in another
    format is read in the one pandas infers; only values that are no timestamp are reported."""
    iso = reference.assign(timestamp=reference["timestamp"].dt.strftime("%Y-%m-%dT%H:%M:%S"))
    iso.loc[iso.index % 2 == 0, "timestamp"] = iso["timestamp"].str.replace("T", " ")
    assert validate(iso, SPEC, "mixed").equals(series)
    spelled = reference.assign(timestamp=reference["timestamp"].dt.strftime("%d %b %Y, %H:%M"))
    assert validate(spelled, SPEC, "spelled").equals(series)
    iso.loc[7, "timestamp"] = "not a time"
    assert problems_of(iso) == ["column 'timestamp': 1 value is not a timestamp, first in row 8"]


def test_a_file_with_duplicates_and_empty_values_gets_every_problem_at_once(reference):
    frame = reference.copy()
    frame.loc[[5, 9], "demand"] = np.nan
    assert problems_of(pd.concat([frame, frame.iloc[[100, 200]]])) == [
        "column 'timestamp': 2 duplicate timestamps, first 2000-06-07 02:00:00",
        "column 'demand': 2 empty values (NaN), first at 2000-06-05 02:30:00; expected a number in every row",
    ]


def test_rows_come_back_sorted_whatever_the_file_order(reference, series):
    shuffled = reference.sample(frac=1, random_state=0)
    assert validate(shuffled, SPEC, "shuffled").equals(series)


def test_prediction_input_may_end_with_future_rows(with_temperature):
    spec = DataSpec(exogenous_columns=("temperature",))
    frame = with_temperature.copy()
    frame.loc[frame.index[-48:], "demand"] = np.nan
    series = validate(frame, spec, "input.csv", allow_future_rows=True)
    assert series["demand"].isna().sum() == 48
    with pytest.raises(DataValidationError, match=r"expected a number in every row$"):
        validate(frame, spec, "input.csv")
    frame.loc[frame.index[-49], "temperature"] = np.nan
    with pytest.raises(DataValidationError, match="column 'temperature': 1 empty value "):
        validate(frame, spec, "input.csv", allow_future_rows=True)


def test_frequency_must_divide_a_day():
    with pytest.raises(DataValidationError, match="'7min' is not a frequency that divides a day"):
        _ = DataSpec(frequency="7min").periods_per_day
