"""The serving container every registered model declares (pipelines/logic/registry.py): the components
image running the same online code as the predict function (pipelines/logic/online.py) under Vertex AI's
custom-container contract (cloud.google.com/vertex-ai/docs/predictions/custom-container-requirements):

- it listens on 0.0.0.0:`AIP_HTTP_PORT` (default 8080);
- `GET AIP_HEALTH_ROUTE` answers 200 once the model is loaded (503 before);
- `POST AIP_PREDICT_ROUTE` takes `{"instances": [<predict body>, ...]}` and answers
  `{"predictions": [<predict answer>, ...]}`, in the same order; a bad instance is a 400 naming it;
- the model is read from `AIP_STORAGE_URI`, the copy of the version's artifacts Vertex AI makes
  (a gs:// prefix, or a local folder when run by hand or in tests). Only the serving files are read.

`python -m functions.vertex_serving` runs it under functions-framework, as the functions run.
"""

from __future__ import annotations

import gc
import os
import sys
import tempfile
from pathlib import Path

import functions_framework

from functions.http_json import BadRequest, json_object
from pipelines.logic.model import SERVING_FILES, Forecaster
from pipelines.logic.online import BODY_KEYS, InvalidRequest, answer, parse
from pipelines.logic.registry import SERVING_HEALTH_ROUTE, SERVING_PORT, SERVING_PREDICT_ROUTE

# Vertex AI refuses online requests above 1.5 MB; the container refuses the same.
MAX_BODY_BYTES = 1536 * 1024


def load_model(storage_uri: str) -> Forecaster:
    """The forecaster at `storage_uri` (gs://bucket/prefix or a folder), reading only SERVING_FILES."""
    if not storage_uri.startswith("gs://"):
        return Forecaster.load(Path(storage_uri))
    from google.cloud import storage

    bucket_name, _, prefix = storage_uri.removeprefix("gs://").partition("/")
    bucket = storage.Client().bucket(bucket_name)
    with tempfile.TemporaryDirectory() as folder:
        for name in SERVING_FILES:
            bucket.blob(f"{prefix.rstrip('/')}/{name}").download_to_filename(Path(folder) / name)
        return Forecaster.load(Path(folder))


_model: Forecaster | None = None


def model() -> Forecaster:
    global _model
    if _model is None:
        _model = load_model(os.environ["AIP_STORAGE_URI"])
    return _model


def predictions(forecaster: Forecaster, instances) -> dict:
    """The answer to a Vertex AI predict body, or InvalidRequest naming the instance."""
    if not isinstance(instances, list) or not instances:
        raise InvalidRequest("instances", "expected a non-empty list of predict bodies")
    answers = []
    for index, instance in enumerate(instances):
        where = f"instances[{index}]"
        if not isinstance(instance, dict) or set(instance) - set(BODY_KEYS):
            raise InvalidRequest(where, f"expected an object with {', '.join(BODY_KEYS)}")
        try:
            request = parse(instance, forecaster.spec)
            answers.append(answer(forecaster, os.environ.get("AIP_DEPLOYED_MODEL_ID", ""), request))
        except InvalidRequest as invalid:
            raise InvalidRequest(f"{where}.{invalid.field}", invalid.error) from None
    return {"predictions": answers}


@functions_framework.http
def serve(request):
    health = os.environ.get("AIP_HEALTH_ROUTE", SERVING_HEALTH_ROUTE)
    if request.path == health:
        try:
            model()
        except Exception as error:  # not ready: Vertex AI retries the health check
            return {"error": f"model not loaded: {type(error).__name__}"}, 503
        return {"status": "ready"}, 200
    if request.path != os.environ.get("AIP_PREDICT_ROUTE", SERVING_PREDICT_ROUTE) or request.method != "POST":
        return {"error": f"{request.method} {request.path} is not served; expected POST to the predict route"}, 404
    try:
        body = json_object(request, ("instances", "parameters"), MAX_BODY_BYTES)
        return predictions(model(), body.get("instances")), 200
    except BadRequest as bad:
        return bad.response()
    except InvalidRequest as invalid:
        return {"error": invalid.error, "field": invalid.field}, 400


# Full collections skip what is imported by now, as in the predict function (functions/predict/main.py).
gc.freeze()


def main() -> int:
    port = os.environ.get("AIP_HTTP_PORT", str(SERVING_PORT))
    command = [sys.executable, "-m", "functions_framework", "--source", __file__, "--target", "serve"]
    command += ["--host", "0.0.0.0", "--port", port]  # noqa: S104 - the container contract: every interface
    os.execv(sys.executable, command)  # noqa: S606 - replaces this process, no shell
    return 0


if __name__ == "__main__":
    sys.exit(main())
