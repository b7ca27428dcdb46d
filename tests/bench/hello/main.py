"""The floors of the predict load benchmark: the smallest functions-framework function, and one
that reads a request's body and writes predict's own answer to it (bytes the benchmark computed
beforehand, in the file SAME_BYTES_ANSWER) with no work in between."""

import functools
import os
from pathlib import Path

import functions_framework
from flask import Response


@functions_framework.http
def hello(request):
    return {"hello": "world"}, 200


@functools.cache
def _answer() -> bytes:
    return Path(os.environ["SAME_BYTES_ANSWER"]).read_bytes()


@functions_framework.http
def same_bytes(request):
    request.get_data()
    return Response(_answer(), status=200, mimetype="application/json")
