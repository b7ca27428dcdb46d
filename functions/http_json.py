"""JSON request bodies for the HTTP functions: validated before anything else, answered with
400 `{"error", "field"}` (or 405/413) instead of functions-framework's bare 500.

Every check costs what the body's size says, whatever the body holds:
- a declared Content-Length over the limit is refused (413) before a byte is read; without one,
  at most the limit plus one byte is read;
- a client that pauses for BODY_IDLE_SECONDS while its body is read is answered 408 (each wait is
  bounded, not the whole body: a deployed function's request timeout bounds that);
- an answer given before the body's end (405, 413, 408) is sent at once, never after reading the
  rest (`answer_before_the_body`);
- nesting deeper than MAX_DEPTH is refused before parsing, counted without recursion (Python's
  parser would raise RecursionError on deep input);
- a number longer than MAX_NUMBER_CHARS is refused before it is converted (Python's int() refuses
  past 4300 digits, and big conversions cost quadratic time), and so is one that overflows a float,
  and the non-JSON constants NaN and Infinity.
"""

from __future__ import annotations

import json
import math
import re
from itertools import accumulate

MAX_DEPTH = 32
READ_CHUNK_BYTES = 64 * 1024  # a body without a declared length is read this much at a time
# The longest a body's sender may pause: a client that stalls would hold the one request an
# instance serves (and `make serve`'s one worker) for as long as it kept the connection open.
BODY_IDLE_SECONDS = 10
# Set in a request's WSGI environ when an answer was decided before its body was read to the end.
UNREAD_BODY = "platform.unread_body"
# Longer than any float's shortest repr (at most 24 characters) or any int a parameter needs.
MAX_NUMBER_CHARS = 100

# A JSON string, or an unterminated one up to the end: always matches once started, so stripping
# strings is one linear pass whatever the quotes and backslashes.
_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"?', re.DOTALL)
_NOT_BRACKETS = re.compile(r"[^\[\]{}]+")
_DEPTH_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}
# A run of this many number characters may be an integer past 64 bits or a number past the length
# limit: the checked parser decides. Found by mapping every number character to one byte (C speed).
_NUMERIC = bytes.maketrans(b"-+.eE0123456789", b"#" * 15)
_LONG_NUMERIC_RUN = b"#" * 19
# A run this long may be a number past the length limit. msgspec reads any shorter number as the
# checked parser does: an integer of any size exactly, one for a float field correctly rounded.
_OVERLONG_NUMERIC_RUN = b"#" * (MAX_NUMBER_CHARS + 1)
_NOT_STRUCTURE = bytes(sorted(set(range(256)) - set(b'[]{}"')))


class BadRequest(Exception):
    def __init__(self, field: str | None, error: str, status: int = 400):
        self.field, self.error, self.status = field, error, status

    def response(self) -> tuple[dict, int]:
        return {"error": self.error, "field": self.field}, self.status


def _unread(request, error: BadRequest) -> BadRequest:
    """`error`, for a request whose body is left unread from here on."""
    request.environ[UNREAD_BODY] = True
    return error


def json_object(request, keys: tuple[str, ...], max_bytes: int) -> dict:
    """The POSTed body as a JSON object holding only `keys`, or BadRequest naming what is wrong."""
    return object_of(post_body(request, max_bytes), keys)


def post_body(request, max_bytes: int) -> bytes:
    """The POSTed body (`read_body`), or BadRequest (405) for any other method."""
    if request.method != "POST":
        raise _unread(request, BadRequest("method", f"{request.method} is not allowed; expected POST", 405))
    return read_body(request, max_bytes)


def object_of(raw: bytes, keys: tuple[str, ...]) -> dict:
    """A body as a JSON object holding only `keys`, or BadRequest naming what is wrong."""
    body = parse_json(raw)
    if not isinstance(body, dict):
        raise BadRequest("body", f"expected a JSON object with keys {', '.join(keys)}")
    unknown = sorted(set(body) - set(keys))
    if unknown:
        raise BadRequest(unknown[0], f"unknown key {unknown[0]!r}; expected {', '.join(keys)}")
    return body


def read_body(request, max_bytes: int) -> bytes:
    """The body, refused from its declared length or after reading at most `max_bytes` + 1 bytes."""
    declared = request.content_length
    if declared is not None and declared > max_bytes:
        raise _unread(request, BadRequest("body", f"body is {declared} bytes; expected at most {max_bytes}", 413))
    wanted = max_bytes + 1 if declared is None else declared
    chunks, size = [], 0
    # gunicorn's client socket (the server functions-framework runs): each wait for the body's bytes
    # is bounded. Other servers (tests' clients) pass none.
    client = request.environ.get("gunicorn.socket")
    previous = client.gettimeout() if client is not None else None
    if client is not None:
        client.settimeout(BODY_IDLE_SECONDS)
    try:
        while size < wanted:
            # werkzeug's request stream allocates the size asked for before it reads (io.RawIOBase):
            # ask for the declared length, or READ_CHUNK_BYTES at a time, never for the whole limit.
            chunk = request.stream.read(wanted - size if declared is not None else min(wanted - size, READ_CHUNK_BYTES))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except TimeoutError:
        message = f"no byte of the body for {BODY_IDLE_SECONDS} s; expected the whole body without pauses"
        raise _unread(request, BadRequest("body", message, 408)) from None
    finally:
        if client is not None:
            client.settimeout(previous)
    if size > max_bytes:
        error = BadRequest("body", f"body is more than {max_bytes} bytes; expected at most {max_bytes}", 413)
        raise _unread(request, error)
    return b"".join(chunks)


def parse_json(raw: bytes):
    """Parse UTF-8 JSON within the depth and number limits, or BadRequest for the field "body".

    orjson parses first: when it succeeds, no numeric run is long enough to be a number past the
    limits or a big integer (which orjson would read as a float), and the result nests at most
    MAX_DEPTH levels, its result is the one Python's parser gives. Anything else goes to the
    checked parser below, which explains the refusal. A body in the usual shape costs a tenth.
    """
    fast = _orjson_or_none(raw)
    if fast is not None:
        return fast
    try:
        text = raw.decode()
    except UnicodeDecodeError as error:
        raise BadRequest("body", f"body is not valid JSON: not UTF-8 ({error.reason} at byte {error.start})") from None
    brackets = _NOT_BRACKETS.sub("", _STRING.sub("", text))
    if max(accumulate(map(_DEPTH_STEP.__getitem__, brackets)), default=0) > MAX_DEPTH:
        raise BadRequest(
            "body", f"body nests arrays and objects more than {MAX_DEPTH} levels deep; expected at most {MAX_DEPTH}"
        )
    try:
        return json.loads(text, parse_int=_integer, parse_float=_float, parse_constant=_constant)
    except json.JSONDecodeError as error:
        raise BadRequest("body", f"body is not valid JSON: {error}") from None


def typed_json(raw: bytes, decoder):
    """What a msgspec `decoder` makes of `raw`, or None when it refuses it or `parse_json` might read
    it otherwise; then `parse_json` decides, and explains any refusal.

    For a body of a known shape: msgspec checks the types as it parses, at C speed, and nests no
    deeper than its type does. What is left to check here is the numbers: a numeric run that could
    be a number past MAX_NUMBER_CHARS sends the body to `parse_json`.
    """
    import msgspec

    if _has_run(raw, _OVERLONG_NUMERIC_RUN):
        return None
    try:
        return decoder.decode(raw)
    except msgspec.MsgspecError:
        return None


def _has_run(raw: bytes, run: bytes) -> bool:
    """Whether `raw` holds `run` (a _LONG_NUMERIC_RUN or an _OVERLONG_NUMERIC_RUN) of number characters."""
    return run in raw.translate(_NUMERIC)


def _orjson_or_none(raw: bytes):
    import orjson

    if _has_run(raw, _LONG_NUMERIC_RUN) or b"\\" in raw:  # escapes: the checked parser counts
        return None
    # Without escapes, a string without brackets in it is two adjacent quotes once everything but
    # brackets and quotes is dropped; a quote left over means brackets in a string (the checked
    # parser counts those). What remains is the nesting. Each pass removes the innermost {} pairs,
    # then the [] pairs that leaves innermost: at most two levels, so emptying it in MAX_DEPTH // 2
    # passes proves it nests at most MAX_DEPTH deep (a deeper run of one kind of bracket goes to
    # the checked parser, which counts exactly). Usual bodies are wide, not deep, so each pass at
    # least halves them; a body that does not halve goes to the checked parser, which keeps this
    # path's work under two passes' worth.
    brackets = raw.translate(None, _NOT_STRUCTURE).replace(b'""', b"")
    for _ in range(MAX_DEPTH // 2):
        if not brackets:
            break
        inner = brackets.replace(b"{}", b"").replace(b"[]", b"")
        if len(inner) > len(brackets) // 2:
            return None
        brackets = inner
    if brackets:  # deeper than MAX_DEPTH, unbalanced, or brackets inside a string
        return None
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None


def _check_length(text: str) -> None:
    if len(text) > MAX_NUMBER_CHARS:
        raise BadRequest(
            "body", f"a number of {len(text)} characters ({text[:20]}...); expected at most {MAX_NUMBER_CHARS}"
        )


def _integer(text: str) -> int:
    _check_length(text)
    return int(text)


def _float(text: str) -> float:
    _check_length(text)
    value = float(text)
    if not math.isfinite(value):
        raise BadRequest("body", f"the number {text} is too large for a float; expected at most 1.8e308")
    return value


def _constant(name: str):
    raise BadRequest("body", f"{name} is not a JSON number; expected a finite number")


def answer_before_the_body(handler):
    """Send an answer decided before the body's end (UNREAD_BODY) without reading the rest.
    functions-framework reads the whole body after every answer that is not a stream (its
    `read_request`, so that a client is not reset before it has sent everything): after a 413 that
    would read what was refused (to the declared length; a chunked body, to its end, in memory), and
    a client that claims more than it sends would never get its answer. A stream it leaves alone.
    (gunicorn's sync worker then closes the connection, as after every request; its threaded worker
    reads at most 64 KiB more, for at most 5 s, and keeps the connection only if that ended the
    body.) Outermost on a function: it takes the answer as Flask makes it."""
    import functools

    import flask

    @functools.wraps(handler)
    def respond(request):
        response = flask.make_response(handler(request))
        if not request.environ.get(UNREAD_BODY):
            return response
        return flask.Response(iter([response.get_data()]), status=response.status_code, headers=dict(response.headers))

    return respond


def fast_json(handler):
    """Answer a handler's `(body, status)` as JSON written by orjson (Flask's encoder sorts keys
    and costs more than the forecast itself); a body of bytes is JSON already, and sent as it is."""
    import functools

    import flask
    import orjson

    @functools.wraps(handler)
    def respond(request):
        body, status = handler(request)
        data = body if isinstance(body, bytes) else orjson.dumps(body)
        return flask.Response(data, status=status, mimetype="application/json")

    return respond
