"""predict: forecasts from the champion over HTTP; 400 for every bad request, 503 without a champion."""

from __future__ import annotations

import json
import shutil

import orjson
import pandas as pd
import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipelines.logic.data import load_reference
from pipelines.logic.spec import DataSpec
from tests.support.functions import HISTORY_ROWS, history, json_values, make_app, raw_answer, serve

SHORT_HISTORY = "only 0 periods of history; expected at least 384 (8 days at 30min)"


@pytest.fixture
def client(registry, monkeypatch):
    return make_app("predict", {"REGISTRY_URI": str(registry.root), "CHAMPION_CHECK_SECONDS": "0"}, monkeypatch)


def test_forecasts_the_next_periods_with_the_champion_version(client):
    response = client.post("/", json={"history": history(), "horizon": 6})
    assert response.status_code == 200
    body = response.get_json()
    assert body["model_version"] == "1"
    assert [f["timestamp"] for f in body["forecasts"]][:2] == ["2000-08-28T00:00:00", "2000-08-28T00:30:00"]
    assert len(body["forecasts"]) == 6 and all(15_000 < f["forecast"] < 45_000 for f in body["forecasts"])


def test_same_answer_as_the_shared_forecast_module(client, registry):
    from pipelines.logic.data import DataSpec, validate
    from pipelines.logic.forecast import forecast
    from pipelines.logic.model import Forecaster

    series = validate(load_reference().tail(HISTORY_ROWS), DataSpec(), "direct")
    expected = forecast(Forecaster.load(registry.fetch(registry.champion())), series, 3)["forecast"].round(3)
    served = [
        f["forecast"] for f in client.post("/", json={"history": history(), "horizon": 3}).get_json()["forecasts"]
    ]
    assert served == pytest.approx(expected.tolist(), abs=1e-3)


def test_reloads_when_the_champion_moves(client, registry, champion_artifacts):
    assert client.post("/", json={"history": history(), "horizon": 1}).get_json()["model_version"] == "1"
    registry.register(champion_artifacts, {"mae": 0.5}, promote=True)
    assert client.post("/", json={"history": history(), "horizon": 1}).get_json()["model_version"] == "2"


def test_no_champion_is_503_but_bad_input_is_still_400(tmp_path, monkeypatch):
    client = make_app("predict", {"REGISTRY_URI": str(tmp_path / "empty"), "CHAMPION_CHECK_SECONDS": "0"}, monkeypatch)
    assert client.post("/", json={"history": history(), "horizon": 1}).status_code == 503
    bad = client.post("/", json={"history": history(10), "horizon": 1})
    assert bad.status_code == 400 and bad.get_json()["field"] == "history"


@pytest.mark.parametrize(
    ("body", "field", "error"),
    [
        ("not json", "body", "body is not valid JSON: Expecting value: line 1 column 1 (char 0)"),
        ([1, 2], "body", "expected a JSON object with keys history, future, horizon"),
        ({"history": [], "extra": 1}, "extra", "unknown key 'extra'; expected history, future, horizon"),
        ({"horizon": 1}, "history", "expected a list of objects with timestamp, demand"),
        (
            {"history": [{"timestamp": "2000-01-01"}]},
            "history[0]",
            "no 'demand'; expected an object with exactly timestamp, demand",
        ),
        (
            {"history": [{"timestamp": "2000-01-01", "demand": 1.0, "load": 2.0}]},
            "history[0]",
            "unknown key 'load'; expected an object with exactly timestamp, demand",
        ),
        (
            {"history": [{"timestamp": "2000-01-01", "demand": 1.0}, ["2000-01-01", 1.0]]},
            "history[1]",
            "a list; expected an object with exactly timestamp, demand",
        ),
        (
            {"history": [{"timestamp": 5, "demand": 1.0}]},
            "history[0].timestamp",
            "expected an ISO 8601 timestamp string",
        ),
        (
            {"history": [{"timestamp": "2000-01-01", "demand": "high"}]},
            "history[0].demand",
            '"high" is not a finite number',
        ),
        (
            {"history": [], "horizon": 49},
            "horizon",
            "49 is not a horizon; expected an integer from 1 to 48 (one day at 30min)",
        ),
        (  # no horizon given: the rows say it, and they are too many (it was told as a horizon of 49)
            {"history": [], "future": [{"timestamp": "2000-08-28T00:00:00"}] * 49},
            "future",
            "49 future rows; expected at most 48 (one day at 30min), one per forecast period",
        ),
        ({"history": [], "horizon": 2}, "history", SHORT_HISTORY),
    ],
)
def test_bad_requests_get_400_with_field_and_message(client, body, field, error):
    data = body if isinstance(body, str) else json.dumps(body)
    response = client.post("/", data=data, content_type="application/json")
    assert response.status_code == 400
    assert response.get_json() == {"error": error, "field": field}


def test_gaps_in_history_are_400(client):
    rows = history()
    del rows[100]
    response = client.post("/", json={"history": rows, "horizon": 1})
    assert response.status_code == 400
    assert "1 period is missing, first 2000-08-21 02:00:00" in response.get_json()["error"]


def test_timestamps_spelled_with_a_t_or_a_space_mixed_get_the_same_forecasts(client):
    """ISO 8601 allows either separator: a history mixing them is one history, not a row of
    "values that are not timestamps" (pandas alone reads every row in the first row's format)."""
    rows = history()
    mixed = [
        dict(row, timestamp=row["timestamp"].replace("T", " ")) if k % 3 == 0 else row for k, row in enumerate(rows)
    ]
    assert mixed[0]["timestamp"] != rows[0]["timestamp"] and mixed[1] == rows[1]
    answers = [client.post("/", json={"history": body, "horizon": 6}) for body in (rows, mixed)]
    assert [answer.status_code for answer in answers] == [200, 200]
    assert answers[1].get_json() == answers[0].get_json()


def test_only_post(client):
    assert client.get("/").status_code == 405


bad_bodies = st.one_of(
    json_values,
    st.fixed_dictionaries({"history": json_values}, optional={"horizon": json_values, "future": json_values}),
    st.fixed_dictionaries(
        {
            "history": st.lists(
                st.fixed_dictionaries({"timestamp": st.text(max_size=20), "demand": json_values}), max_size=5
            )
        }
    ),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=bad_bodies)
def test_generated_bad_bodies_only_ever_get_4xx(client, body):
    response = client.post("/", data=json.dumps(body), content_type="application/json")
    assert 400 <= response.status_code < 500, response.get_data(as_text=True)


def test_served_over_real_http(registry):
    with serve("predict", {"REGISTRY_URI": str(registry.root)}) as url:
        response = requests.post(url, json={"history": history(), "horizon": 2}, timeout=30)
        assert response.status_code == 200 and response.json()["model_version"] == "1"
        bad = requests.post(url, data="{", headers={"Content-Type": "application/json"}, timeout=30)
        assert bad.status_code == 400 and bad.json()["field"] == "body"


def test_an_answer_before_the_bodys_end_is_sent_at_once(registry):
    """functions-framework reads the whole body after each answer: a client claiming 100 MB but
    sending 2 bytes, or a chunked upload over the limit, used to get no answer at all (the one
    worker then served nobody else), and the chunked body was read to its end in memory."""
    with serve("predict", {"REGISTRY_URI": str(registry.root)}) as url:
        declared = raw_answer(url, "POST", b"Content-Length: 100000000\r\n", b"{}")
        chunk = b" " * 65536
        chunked = raw_answer(url, "POST", b"Transfer-Encoding: chunked\r\n", (b"10000\r\n" + chunk + b"\r\n") * 17)
        other_method = raw_answer(url, "PUT", b"Content-Length: 100000000\r\n", b"{}")
        served = requests.post(url, json={"history": history(), "horizon": 2}, timeout=30)
    assert declared == (413, {"error": "body is 100000000 bytes; expected at most 1048576", "field": "body"})
    assert chunked == (413, {"error": "body is more than 1048576 bytes; expected at most 1048576", "field": "body"})
    assert other_method == (405, {"error": "PUT is not allowed; expected POST", "field": "method"})
    assert served.status_code == 200, "the worker is free for the next client"


def test_a_client_that_stalls_its_headers_holds_the_local_worker_no_longer_than_the_request_timeout(registry):
    """functions-framework makes CLOUD_RUN_TIMEOUT_SECONDS its gunicorn timeout, which `make serve`
    sets to the deployed request timeout (tests/infra checks the two agree; 2 s here, as a user may
    export it): a client that never ends its headers held predict's one worker, and every later
    request, for as long as it kept the connection."""
    import socket
    from urllib.parse import urlsplit

    variables = {"REGISTRY_URI": str(registry.root), "CLOUD_RUN_TIMEOUT_SECONDS": "2"}
    with serve("predict", variables) as url:
        address = urlsplit(url)
        with socket.create_connection((address.hostname, address.port)) as stalled:
            stalled.sendall(b"POST / HTTP/1.1\r\nHost: x\r\n")  # and nothing more
            served = requests.post(url, json={"history": history(), "horizon": 2}, timeout=30)
    assert served.status_code == 200


def post_raw(client, raw: bytes):
    return client.post("/", data=raw, content_type="application/json")


@pytest.mark.parametrize(
    ("raw", "error"),
    [
        (
            b'{"history": ' + b"[" * 30_000 + b"]" * 30_000 + b"}",
            "body nests arrays and objects more than 32 levels deep; expected at most 32",
        ),
        (
            b'{"history": [], "horizon": ' + b"7" * 5000 + b"}",
            "a number of 5000 characters (77777777777777777777...); expected at most 100",
        ),
        (
            b'{"history": [{"timestamp": "2000-08-19T00:00:00", "demand": ' + b"1" + b"0" * 400 + b"}]}",
            "a number of 401 characters (10000000000000000000...); expected at most 100",
        ),
    ],
    ids=["nested 30000 deep", "5000-digit horizon", "10**400 in history"],
)
def test_parse_limits_are_400_on_the_body(client, raw, error):
    response = post_raw(client, raw)
    assert (response.status_code, response.get_json()) == (400, {"error": error, "field": "body"})


def test_a_body_over_the_limit_is_413_from_its_declared_length(client):
    response = post_raw(client, b" " * (1024 * 1024 + 1))
    assert response.status_code == 413
    assert response.get_json() == {"error": "body is 1048577 bytes; expected at most 1048576", "field": "body"}


def test_timestamps_spanning_centuries_are_refused_before_any_date_range_is_built(client):
    """24 KB whose first and last timestamps are pandas' extremes: ten million periods apart."""
    rows = history()
    rows[0]["timestamp"], rows[-1]["timestamp"] = "1677-09-22T00:00:00", "2262-04-11T00:00:00"
    response = client.post("/", json={"history": rows, "horizon": 1})
    assert response.status_code == 400
    assert response.get_json() == {
        "error": "432 rows from 1677-09-22 00:00:00 to 2262-04-11 00:00:00 span 10248097 periods of 30min; "
        "expected one row every 30min",
        "field": "history",
    }


def test_history_ending_where_pandas_dates_end_is_400(client):
    rows = history()
    stamps = pd.date_range(end="2262-04-11 00:00", periods=len(rows), freq="30min")
    for row, stamp in zip(rows, stamps, strict=True):
        row["timestamp"] = stamp.isoformat()
    response = client.post("/", json={"history": rows, "horizon": 48})
    assert response.get_json() == {
        "error": "the last timestamp 2262-04-11 00:00:00 leaves no room for 48 forecast periods",
        "field": "history",
    }


def test_sparse_history_still_gets_the_detailed_gap_message(client):
    """Within twice the row count, the gap check runs and names the first missing period."""
    rows = history(HISTORY_ROWS + 300)
    del rows[200:500]  # 432 rows over 732 periods
    response = client.post("/", json={"history": rows, "horizon": 1})
    assert response.status_code == 400
    assert "300 periods are missing, first 2000-08-16 22:00:00" in response.get_json()["error"]


def with_timestamps(changes: dict[int, str]) -> bytes:
    """A valid body with some timestamps replaced: extremes of pandas' range, out of it, other zones."""
    rows = history()
    for index, stamp in changes.items():
        rows[index]["timestamp"] = stamp
    return json.dumps({"history": rows, "horizon": 48}).encode()


raw_bodies = st.one_of(
    st.binary(max_size=200),
    st.lists(
        st.sampled_from(['{"history": [', "{", "}", "[", "]", '"timestamp": ', '"demand": ', '"2000-01-01"', ","]),
        max_size=40,
    ).map(lambda parts: "".join(parts).encode()),
    st.dictionaries(
        st.integers(0, HISTORY_ROWS - 1),
        st.sampled_from(["1677-09-22T00:12:43", "1677-09-21", "2262-04-11T23:47:16", "9999-12-31", "2000-08-19+05:00"]),
        min_size=1,
        max_size=3,
    ).map(with_timestamps),
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=raw_bodies)
def test_generated_malformed_bytes_never_get_5xx(client, raw):
    response = post_raw(client, raw)
    assert 400 <= response.status_code < 500, response.get_data(as_text=True)


def test_a_dangling_champion_pointer_keeps_the_loaded_model_serving(client, registry, champion_artifacts):
    assert client.post("/", json={"history": history(), "horizon": 1}).get_json()["model_version"] == "1"
    (registry.root / "champion").write_text("7")  # names a version that does not exist
    response = client.post("/", json={"history": history(), "horizon": 1})
    assert (response.status_code, response.get_json()["model_version"]) == (200, "1")
    registry.register(champion_artifacts, {"mae": 0.5}, promote=True)  # the next training re-points it
    assert client.post("/", json={"history": history(), "horizon": 1}).get_json()["model_version"] == "2"


def test_a_partial_champion_version_keeps_the_loaded_model_serving(client, registry, tmp_path):
    assert client.post("/", json={"history": history(), "horizon": 1}).get_json()["model_version"] == "1"
    (tmp_path / "empty").mkdir()
    registry.register(tmp_path / "empty", {"mae": 0.5}, promote=True)  # version 2: metadata, no model
    response = client.post("/", json={"history": history(), "horizon": 1})
    assert (response.status_code, response.get_json()["model_version"]) == (200, "1")


def test_a_dangling_champion_before_any_model_is_loaded_is_503(registry, monkeypatch):
    (registry.root / "champion").write_text("7")
    client = make_app("predict", {"REGISTRY_URI": str(registry.root), "CHAMPION_CHECK_SECONDS": "0"}, monkeypatch)
    response = client.post("/", json={"history": history(), "horizon": 1})
    assert response.status_code == 503
    assert response.get_json() == {
        "error": "the registry's champion cannot be loaded (BrokenChampion); see the logs",
        "field": None,
    }


def test_a_downloaded_version_is_deleted_once_loaded_and_a_local_one_kept(registry, tmp_path):
    from functions.predict.main import Champion
    from pipelines.logic.registry import LocalRegistry

    class DownloadingRegistry(LocalRegistry):
        """Fetches as the Vertex registry does: every artifact, training data included, to a new folder."""

        def fetch(self, version, files=()):
            target = tmp_path / f"download-{version.version}"
            shutil.copytree(version.artifacts, target)
            (target / "training_data.parquet").write_bytes(b"rows")
            return target

    version, forecaster = Champion(DownloadingRegistry(registry.root), 0).get()
    assert version == "1" and forecaster.spec.frequency == "30min"
    assert not (tmp_path / "download-1").exists()
    assert Champion(registry, 0).get()[0] == "1"
    assert sorted(p.name for p in (registry.root / "versions" / "1").iterdir()) == [
        "forecaster.json",
        "training_data.parquet",
        "version.json",
    ]


REFERENCE = load_reference()
SPEC_COLUMNS = ("timestamp", "demand")


@st.composite
def requests_in_many_shapes(draw) -> tuple[dict, str]:
    """A request on a random stretch of the reference, rescaled, in the usual shape or broken in
    one way (each broken way leaves the array route for the batch path's validation)."""
    rows = draw(st.integers(360, 480))
    start = draw(st.integers(0, len(REFERENCE) - rows))
    scale = draw(st.floats(0.01, 100.0))
    frame = REFERENCE.iloc[start : start + rows]
    history = [
        {"timestamp": t.isoformat(), "demand": round(float(d) * scale, 2)}
        for t, d in zip(frame["timestamp"], frame["demand"], strict=True)
    ]
    shape = draw(
        st.sampled_from(
            [
                "usual",
                "gap",
                "duplicate",
                "negative",
                "unsorted",
                "space",
                "zone",
                "off grid",
                "no such day",
                "wide digit",
                "shifted",
                "huge",
            ]
        )
    )
    where = draw(st.integers(1, len(history) - 2))
    if shape == "gap":
        del history[where]
    elif shape == "duplicate":
        history.insert(where, dict(history[where]))
    elif shape == "negative":
        history[where]["demand"] = -1.0
    elif shape == "unsorted":
        history[where], history[where + 1] = history[where + 1], history[where]
    elif shape == "space":
        history = [row | {"timestamp": row["timestamp"].replace("T", " ")} for row in history]
    elif shape == "zone":
        history = [row | {"timestamp": row["timestamp"] + "+00:00"} for row in history]
    elif shape == "off grid":
        history[where]["timestamp"] = history[where]["timestamp"][:-2] + "07"
    elif shape == "no such day":  # June has 30 days
        history[where]["timestamp"] = "2000-06-31" + history[where]["timestamp"][10:]
    elif shape == "wide digit":  # a full-width digit: a digit to Python, not to the ISO format
        history[where]["timestamp"] = history[where]["timestamp"][:-1] + "\uff10"
    elif shape == "huge":  # finite in JSON and in float64, past what the model computes with
        history[where]["demand"] = 1e300
    elif shape == "shifted":  # one character moved to the timestamp before: the same text, joined
        following = history[where + 1]["timestamp"]
        history[where]["timestamp"] += following[0]
        history[where + 1]["timestamp"] = following[1:]
    return {"history": history, "horizon": draw(st.integers(1, 48))}, shape


def batch_answer(forecaster, body: dict) -> tuple[str, object]:
    """What the batch path makes of the same rows: data.validate, then forecast."""
    import numpy as np

    from pipelines.logic.data import DataValidationError, validate
    from pipelines.logic.forecast import OUTPUT_COLUMNS, forecast

    frame = pd.DataFrame(body["history"], columns=list(SPEC_COLUMNS))
    try:
        series = validate(frame, forecaster.spec, "request", allow_future_rows=True)
        result = forecast(forecaster, series, body["horizon"], source="request")
    except DataValidationError as error:
        return "refused", "; ".join(error.problems)
    return "answered", {
        "timestamps": [t.isoformat() for t in result["timestamp"]],
        **{key: np.round(result[key].to_numpy(), 3).tolist() for key in OUTPUT_COLUMNS},
    }


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=requests_in_many_shapes())
def test_the_online_routes_answer_exactly_as_the_batch_path(champion_artifacts, case):
    """Forecasts equal to the last bit and refusals word for word, whichever route a request takes."""
    from functions.predict.main import read_request
    from pipelines.logic.forecast import OUTPUT_COLUMNS
    from pipelines.logic.model import Forecaster
    from pipelines.logic.online import InvalidRequest, answer, answer_json, parse

    forecaster = Forecaster.load(champion_artifacts)
    body, shape = case
    batch = batch_answer(forecaster, body)
    # What the function reads (the body's bytes) and what the Vertex AI container reads (a parsed body).
    readers = {
        "bytes": lambda: read_request(json.dumps(body).encode(), forecaster.spec),
        "parsed": lambda: parse(body, forecaster.spec),
    }
    for reader, read in readers.items():
        try:
            request = read()
            assert (request.series is None) == (shape == "usual"), reader  # arrays for the usual shape only
            answered = answer(forecaster, "1", request)
            # What the function sends: the same answer, written straight as JSON.
            assert answer_json(forecaster, "1", request) == orjson.dumps(answered)
            served = answered["forecasts"]
            online = (
                "answered",
                {
                    "timestamps": [row["timestamp"] for row in served],
                    **{key: [row[key] for row in served] for key in OUTPUT_COLUMNS},
                },
            )
        except InvalidRequest as invalid:
            assert invalid.field == "history"
            online = "refused", invalid.error
        assert online == batch, reader


@pytest.mark.parametrize("module", ["functions.predict.main", "functions.vertex_serving"])
def test_a_full_collection_never_walks_what_the_server_imported(module):
    """Everything loaded with predict or the Vertex AI container (numpy, pandas, flask: over 50,000
    objects) is frozen, so a full garbage collection walks only what requests create instead of
    pausing every request in flight for tens of milliseconds."""
    import subprocess
    import sys

    from environments.loading import REPO_ROOT

    probe = f"import gc, {module}; print(gc.get_freeze_count(), len(gc.get_objects()))"
    result = subprocess.run([sys.executable, "-c", probe], cwd=REPO_ROOT, capture_output=True, text=True, check=True)
    frozen, collectable = map(int, result.stdout.split())
    assert frozen > 50_000 and collectable < frozen // 100


NUMBER_SPELLINGS = {
    "shortest": repr,
    "integer": lambda value: str(round(value)),
    "exponent": lambda value: f"{value:.6e}",
    "trailing zeros": lambda value: f"{value:.10f}",
    "negative zero": lambda value: "-0",
    "long": lambda value: f"{value:.40f}",  # a numeric run of 45 characters
    "integer past 64 bits": lambda value: str(round(value) * 10**20 + 1),
    "overlong": lambda value: f"{value:.100f}",  # over MAX_NUMBER_CHARS: the checked parser refuses it
}


@st.composite
def usual_bodies_spelled_many_ways(draw) -> tuple[str, DataSpec]:
    """A body of the usual shape whose JSON text spells some values and keys in other ways JSON
    allows (number forms, escapes, key order, repeated keys, spacing), and its data spec: the
    reference's, or one with a temperature column known in advance (given for the history and for
    the periods ahead)."""
    rows = history()
    spec = DataSpec(exogenous_columns=("temperature",)) if draw(st.booleans()) else DataSpec()
    last = pd.Timestamp(rows[-1]["timestamp"])
    ahead = [{"timestamp": (last + pd.Timedelta(minutes=30 * (k + 1))).isoformat()} for k in range(48)]
    spelled = draw(
        st.dictionaries(st.integers(0, len(rows) - 1), st.sampled_from(sorted(NUMBER_SPELLINGS)), max_size=4)
    )
    layouts = draw(
        st.dictionaries(
            st.integers(0, len(rows) - 1), st.sampled_from(["reversed", "repeated", "escaped", "spaced"]), max_size=3
        )
    )

    def row_text(index: int, row: dict, target: bool) -> str:
        stamp = json.dumps(row["timestamp"])
        layout = layouts.get(index) if target else None
        if layout == "escaped":  # \u0032 is "2"
            stamp = stamp.replace("2", "\\u0032", 1)
        pairs = [f'"timestamp":{stamp}']
        if target:
            pairs.append(f'"demand":{NUMBER_SPELLINGS[spelled.get(index, "shortest")](row["demand"])}')
        if spec.exogenous_columns:
            pairs.append(f'"temperature":{15.0 + index % 48 / 8!r}')
        if layout == "reversed":
            pairs.reverse()
        elif layout == "repeated":  # the last value of a repeated key counts, in both parsers
            pairs.insert(0, '"demand":-1')
        return ("{ " + " , ".join(pairs) + " }") if layout == "spaced" else "{" + ",".join(pairs) + "}"

    top = [f'"history":[{",".join(row_text(index, row, True) for index, row in enumerate(rows))}]']
    top += draw(st.sampled_from([[], ['"horizon":48'], ['"horizon":7'], ['"horizon":48.0']]))
    if spec.exogenous_columns or draw(st.booleans()):
        top.append(f'"future":[{",".join(row_text(index, row, False) for index, row in enumerate(ahead))}]')
    return "{" + ",".join(draw(st.permutations(top))) + "}", spec


@settings(max_examples=150, deadline=None)
@given(case=usual_bodies_spelled_many_ways())
def test_the_typed_route_reads_exactly_what_the_checked_parse_reads(case):
    """Whatever the spelling, the typed route (msgspec straight from the bytes) yields the request
    the checked parse and `parse` yield, bit for bit; it takes every body those read as arrays,
    and it never takes a body they refuse (a number over MAX_NUMBER_CHARS among them)."""
    import numpy as np

    from functions.http_json import BadRequest, object_of, typed_json
    from pipelines.logic.online import BODY_KEYS, InvalidRequest, parse, parse_usual, usual_body

    text, spec = case
    raw = text.encode()
    usual = typed_json(raw, usual_body(spec))
    typed = usual and parse_usual(usual, spec)
    try:
        checked = parse(object_of(raw, BODY_KEYS), spec)
    except (BadRequest, InvalidRequest):
        checked = None
    if checked is None or checked.series is not None:
        assert not typed
        return
    assert typed
    assert (typed.horizon, typed.last_ns, typed.y.tobytes()) == (checked.horizon, checked.last_ns, checked.y.tobytes())
    assert typed.y.dtype == checked.y.dtype == np.float64
    known = {column: values.tobytes() for column, values in typed.known.items()}
    assert known == {column: values.tobytes() for column, values in checked.known.items()}
    assert set(known) == set(spec.exogenous_columns)


def test_a_champion_of_another_spec_is_503_naming_both_specs_as_data_spec_spells_them(registry, monkeypatch):
    spec = '{"target_column": "load"}'
    app = make_app("predict", {"REGISTRY_URI": str(registry.root), "DATA_SPEC": spec}, monkeypatch)
    rows = [{"timestamp": row["timestamp"], "load": row["demand"]} for row in history()]
    response = app.post("/", json={"history": rows, "horizon": 3})
    assert response.status_code == 503
    assert response.get_json()["error"] == (
        'champion version 1 expects the data spec {"exogenous_columns": [], "frequency": "30min", "target_column": '
        '"demand", "target_min": 0.0, "timestamp_column": "timestamp"}; this function is configured for '
        '{"exogenous_columns": [], "frequency": "30min", "target_column": "load", "target_min": 0.0, '
        '"timestamp_column": "timestamp"} (DATA_SPEC)'
    )


def test_a_spec_naming_a_column_twice_is_read_by_the_checked_route_alone():
    """data_spec_problems refuses such a spec; one set by hand in DATA_SPEC still gets answers, not 500s."""
    from functions.predict.main import read_request
    from pipelines.logic.online import InvalidRequest
    from pipelines.logic.spec import DataSpec

    with pytest.raises(InvalidRequest) as raised:
        read_request(json.dumps({"history": history(), "horizon": 3}).encode(), DataSpec(exogenous_columns=("demand",)))
    assert raised.value.field == "future"


def test_a_problem_of_the_future_rows_names_the_future_field():
    """Future rows that overlap the history, leave a gap after it, lie a year later or hold a value
    the model cannot take (past the horizon too): the history alone is valid, so the field is
    `future`, on both routes; a problem in the history keeps naming `history`."""
    from functions.predict.main import read_request
    from pipelines.logic.online import InvalidRequest, parse
    from pipelines.logic.spec import DataSpec

    spec = DataSpec(exogenous_columns=("temperature",))
    past = [row | {"temperature": 15.0} for row in history()]
    ahead = [
        {"timestamp": stamp.isoformat(), "temperature": 14.0}
        for stamp in pd.date_range(past[-1]["timestamp"], periods=6, freq="30min")  # starts on the last row
    ]
    cases = {
        "overlap": (past, ahead[:3], "future", "column 'timestamp': 1 duplicate timestamp, first 2000-08-27 23:30:00"),
        "gap": (past, ahead[2:5], "future", "column 'timestamp': 1 period is missing, first 2000-08-28 00:00:00"),
        "no value": (
            past,
            [ahead[1] | {"temperature": None}, *ahead[2:4]],
            "future[0].temperature",
            "null is not a finite number",
        ),
        "history gap": (past[:100] + past[101:], ahead[1:4], "history", "column 'timestamp': 1 period is missing"),
        "a year later": (
            past,
            [row | {"timestamp": row["timestamp"].replace("2000", "2001")} for row in ahead[1:4]],
            "future",
            "435 rows from 2000-08-19 00:00:00 to 2001-08-28 01:00:00 span",
        ),
        "huge past the horizon": (
            past,
            [*ahead[1:3], ahead[3] | {"temperature": 1e300}],
            "future",
            "column 'temperature': 1 value is infinite or too large",
        ),
    }
    for case, (rows, future, field, message) in cases.items():
        body = {"history": rows, "future": future, "horizon": 2 if case == "huge past the horizon" else 3}
        for read, request in ((parse, body), (read_request, json.dumps(body).encode())):
            with pytest.raises(InvalidRequest) as raised:
                read(request, spec)
            assert raised.value.field == field, case
            assert raised.value.error.startswith(message), (case, raised.value.error)
