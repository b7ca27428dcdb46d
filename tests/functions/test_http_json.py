"""The shared request parser: bodies read within their limit, parse limits answered 400 on the field
"body", and typed fields; whatever the bytes, the answer is a value or BadRequest, never a crash."""

from __future__ import annotations

import io
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from functions import http_json
from functions.http_json import READ_CHUNK_BYTES, UNREAD_BODY, BadRequest, json_object, parse_json, read_body

KEYS = ("a", "b")


class FakeRequest:
    """What json_object reads of a werkzeug request: method, declared length, the body stream and
    the WSGI environ."""

    def __init__(self, stream, content_length: int | None, method: str = "POST", environ: dict | None = None):
        self.method, self.content_length, self.stream = method, content_length, stream
        self.environ = {} if environ is None else environ


class EndlessStream:
    """A chunked upload that never ends; counts what the reader took."""

    def __init__(self):
        self.consumed = 0

    def read(self, size: int) -> bytes:
        chunk = b" " * min(size, 300)  # short reads, as sockets give
        self.consumed += len(chunk)
        return chunk


class UnreadableStream:
    def read(self, size: int) -> bytes:
        raise AssertionError("the body was read")


def bad(call) -> tuple[dict, int]:
    with pytest.raises(BadRequest) as raised:
        call()
    return raised.value.response()


def test_a_declared_length_over_the_limit_is_refused_before_reading():
    request = FakeRequest(UnreadableStream(), content_length=1001)
    assert bad(lambda: read_body(request, 1000)) == (
        {"error": "body is 1001 bytes; expected at most 1000", "field": "body"},
        413,
    )
    assert request.environ[UNREAD_BODY], "the answer must not be followed by reading the rest"


def test_a_sender_that_pauses_longer_than_the_idle_limit_is_answered_408(monkeypatch):
    """Read from a real socket, as gunicorn's: each wait for bytes is bounded, and the socket is
    left as it was found for the answer."""
    import socket

    monkeypatch.setattr(http_json, "BODY_IDLE_SECONDS", 0.2)
    server, client = socket.socketpair()
    with server, client:
        server.settimeout(30.0)  # the server's own setting, to be given back
        client.sendall(b'{"a": ')  # then nothing more
        request = FakeRequest(server.makefile("rb"), content_length=100, environ={"gunicorn.socket": server})
        assert bad(lambda: read_body(request, 1000)) == (
            {"error": "no byte of the body for 0.2 s; expected the whole body without pauses", "field": "body"},
            408,
        )
        assert request.environ[UNREAD_BODY] and server.gettimeout() == 30.0


def test_without_a_declared_length_reads_the_limit_plus_one_byte_and_no_further():
    stream = EndlessStream()
    assert bad(lambda: read_body(FakeRequest(stream, content_length=None), 1000)) == (
        {"error": "body is more than 1000 bytes; expected at most 1000", "field": "body"},
        413,
    )
    assert stream.consumed == 1001


def test_reads_ask_for_the_declared_length_or_a_chunk_never_for_the_whole_limit():
    """werkzeug's request stream allocates what a read asks for before reading: a 1 MB limit must
    not cost a 1 MB buffer per request."""

    class RecordedReads(io.BytesIO):
        def __init__(self, data: bytes):
            super().__init__(data)
            self.asked: list[int] = []

        def read(self, size=-1):
            self.asked.append(size)
            return super().read(size)

    body = json.dumps({"a": "x" * 200_000}).encode()
    declared = RecordedReads(body)
    assert read_body(FakeRequest(declared, content_length=len(body)), 1_000_000) == body
    assert declared.asked == [len(body)]
    undeclared = RecordedReads(body)
    assert read_body(FakeRequest(undeclared, content_length=None), 1_000_000) == body
    assert max(undeclared.asked) == READ_CHUNK_BYTES and len(undeclared.asked) == len(body) // READ_CHUNK_BYTES + 2


def test_a_body_within_the_limit_is_read_whole_from_short_reads():
    class ShortReads(io.BytesIO):
        def read(self, size=-1):
            return super().read(min(size, 7))

    body = json.dumps({"a": "x" * 100}).encode()
    assert read_body(FakeRequest(ShortReads(body), content_length=None), len(body)) == body


@pytest.mark.parametrize(
    ("raw", "error"),
    [
        (b"[" * 30_000 + b"]" * 30_000, "body nests arrays and objects more than 32 levels deep; expected at most 32"),
        (
            b'{"a":' * 33 + b"1" + b"}" * 33,
            "body nests arrays and objects more than 32 levels deep; expected at most 32",
        ),
        (b"[" + b"1" * 5000 + b"]", "a number of 5000 characters (11111111111111111111...); expected at most 100"),
        (b"1" + b"0" * 400, "a number of 401 characters (10000000000000000000...); expected at most 100"),
        (b"-1e400", "the number -1e400 is too large for a float; expected at most 1.8e308"),
        (b'{"a": NaN}', "NaN is not a JSON number; expected a finite number"),
        (b"[Infinity]", "Infinity is not a JSON number; expected a finite number"),
        (b"\xff{}", "body is not valid JSON: not UTF-8 (invalid start byte at byte 0)"),
        (b'{"a": 1', "body is not valid JSON: Expecting ',' delimiter: line 1 column 8 (char 7)"),
    ],
)
def test_parse_limits_are_400_on_the_body(raw, error):
    assert bad(lambda: parse_json(raw)) == ({"error": error, "field": "body"}, 400)


def test_limits_leave_ordinary_json_alone():
    nested = 1
    for _ in range(31):
        nested = [nested]
    assert parse_json(json.dumps({"a": nested}).encode()) == {"a": nested}  # 32 levels
    # brackets and quotes inside strings are text, not nesting
    assert parse_json(json.dumps({"a": "[" * 100 + '\\"{' * 50}).encode()) == {"a": "[" * 100 + '\\"{' * 50}
    assert parse_json(b"[-" + b"9" * 99 + b", 1.5e308]") == [-int("9" * 99), 1.5e308]


def test_json_object_checks_method_shape_and_keys():
    def request(raw: bytes, method: str = "POST") -> FakeRequest:
        return FakeRequest(io.BytesIO(raw), len(raw), method)

    assert bad(lambda: json_object(request(b"{}", "GET"), KEYS, 100)) == (
        {"error": "GET is not allowed; expected POST", "field": "method"},
        405,
    )
    assert bad(lambda: json_object(request(b"[]"), KEYS, 100)) == (
        {"error": "expected a JSON object with keys a, b", "field": "body"},
        400,
    )
    assert bad(lambda: json_object(request(b'{"c": 1}'), KEYS, 100)) == (
        {"error": "unknown key 'c'; expected a, b", "field": "c"},
        400,
    )
    assert json_object(request(b'{"a": 1}'), KEYS, 100) == {"a": 1}


# Fragments that make JSON deep, long, huge, unterminated or not JSON at all.
json_fragments = st.sampled_from(
    ["[", "]", "{", "}", '"', "\\", ",", ":", "1", "0" * 120, "-", "e999", ".5", "NaN", "Infinity", "null", ' "a" ']
)
hostile_bodies = st.one_of(
    st.binary(max_size=300),
    st.lists(json_fragments, max_size=80).map(lambda parts: "".join(parts).encode()),
    st.integers(min_value=0, max_value=3000).map(lambda depth: b"[" * depth + b"]" * depth),
)


@settings(max_examples=500, deadline=None)
@given(raw=hostile_bodies)
def test_any_bytes_give_an_object_or_bad_request(raw):
    request = FakeRequest(io.BytesIO(raw), len(raw))
    try:
        body = json_object(request, KEYS, 1000)
    except BadRequest as error:
        assert error.status in (400, 413) and error.field is not None
    else:
        assert isinstance(body, dict) and set(body) <= set(KEYS)


def nesting(value) -> int:
    """Arrays and objects inside one another, counted the plain recursive way."""
    if isinstance(value, list):
        return 1 + max(map(nesting, value), default=0)
    if isinstance(value, dict):
        return 1 + max(map(nesting, value.values()), default=0)
    return 0


# JSON documents whose strings hold brackets and quotes, nested up to 40 deep.
json_documents = st.recursive(
    st.one_of(st.text(alphabet='[]{}"\\ab:,', max_size=6), st.integers(-(10**6), 10**6), st.booleans(), st.none()),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(alphabet='[]{"ab', max_size=3), inner, max_size=3)
    ),
    max_leaves=60,
)


@settings(max_examples=400, deadline=None)
@given(document=json_documents, extra_depth=st.integers(min_value=0, max_value=40))
def test_documents_parse_to_themselves_within_the_depth_limit(document, extra_depth):
    for _ in range(extra_depth):
        document = [document]
    raw = json.dumps(document).encode()
    if nesting(document) <= 32:
        assert parse_json(raw) == document
    else:
        assert bad(lambda: parse_json(raw)) == (
            {"error": "body nests arrays and objects more than 32 levels deep; expected at most 32", "field": "body"},
            400,
        )
