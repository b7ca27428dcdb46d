"""The floors of the predict load benchmark: the smallest functions-framework function, and one
that reads a request's body and answers predict's answer size without any work in between."""

import functions_framework
import orjson
from flask import Response

# 48 forecast periods with their intervals, as predict answers them (about 5 KB).
PERIOD = {"timestamp": "2000-01-01T00:00:00", "forecast": 12345.678}
PERIOD |= {key: 12345.678 for key in ("lo_80", "hi_80", "lo_95", "hi_95")}
ANSWER = orjson.dumps({"model_version": "1", "forecasts": [PERIOD] * 48})


@functions_framework.http
def hello(request):
    return {"hello": "world"}, 200


@functions_framework.http
def same_bytes(request):
    request.get_data()
    return Response(ANSWER, status=200, mimetype="application/json")
