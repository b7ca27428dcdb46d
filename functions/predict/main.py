"""Online forecasts from the current champion, with the same feature module as training.

POST {"history": [{"<timestamp>": "...", "<target>": 123.4, "<exogenous>": ...}, ...],
      "future":  [{"<timestamp>": "...", "<exogenous>": ...}, ...],      (when the model has exogenous inputs)
      "horizon": 48}                                                       (optional; default len(future) or a day)
-> 200 {"model_version": "3", "forecasts": [{"timestamp": "...", "forecast": 123.4}, ...]}

Validation comes first, before any model is needed: malformed JSON, wrong types, too short a history
or too long a horizon get 400 with the field and a precise message. A valid request while no
champion exists gets 503. The champion is loaded once and reloaded when the registry's champion
alias moves (checked at most every CHAMPION_CHECK_SECONDS); a champion that cannot be loaded leaves
the loaded one serving (503 when there is none).

Settings: `functions.settings.PredictSettings` (set by the stack; `make serve` sets local ones).
"""

from __future__ import annotations

import functools
import gc
import math
import threading
import time

import functions_framework

from functions.http_json import BadRequest, answer_before_the_body, fast_json, object_of, post_body, typed_json
from functions.logs import log, logged
from functions.settings import PredictSettings, data_spec_variable
from pipelines.logic.champion import load_champion
from pipelines.logic.model import Forecaster
from pipelines.logic.online import BODY_KEYS, InvalidRequest, Request, answer_json, parse, parse_usual, usual_body
from pipelines.logic.registry import Registry, open_registry
from pipelines.logic.spec import DataSpec

MAX_BODY_BYTES = 1024 * 1024


class Champion:
    """The champion forecaster, reloaded when the registry's champion alias moves.

    A champion that cannot be loaded (a pointer naming a missing version, a partial version, an
    unreachable registry) never fails a request: the model already loaded keeps serving, and
    without one the answer is 503 with the reason (the details go to the log). Only the model is
    kept, in memory: a downloaded version folder (training data included) is deleted once loaded.
    """

    def __init__(self, registry: Registry, check_seconds: float) -> None:
        self.registry = registry
        self.check_seconds = check_seconds
        self._lock = threading.Lock()
        self._checked = -math.inf
        self._version = None
        self._forecaster: Forecaster | None = None
        self.problem: str | None = None  # why the current champion is not the one serving

    def get(self) -> tuple[str, Forecaster] | None:
        with self._lock:
            if time.monotonic() - self._checked >= self.check_seconds:
                self._checked = time.monotonic()
                try:
                    self._refresh()
                    self.problem = None
                except Exception as error:  # any registry or artifact failure: keep serving what is loaded
                    self.problem = f"the registry's champion cannot be loaded ({type(error).__name__}); see the logs"
                    log("ERROR", f"champion not loaded: {type(error).__name__}: {error}", serving=self._version)
            return (self._version, self._forecaster) if self._forecaster else None

    def _refresh(self) -> None:
        current = self.registry.champion()
        if current is None:
            self._version, self._forecaster = None, None
        elif current.version != self._version:
            loaded = load_champion(self.registry)
            if loaded is None:
                self._version, self._forecaster = None, None
            else:
                self._version, self._forecaster = loaded[0].version, loaded[1]


_champion: Champion | None = None


def champion() -> Champion:
    global _champion
    if _champion is None:
        settings = _settings()
        _champion = Champion(open_registry(settings.registry_uri), settings.champion_check_seconds)
    return _champion


@functools.cache
def _settings() -> PredictSettings:
    """Read once per instance (functions/settings.py owns the variables)."""
    return PredictSettings.from_env()


@functions_framework.http
@answer_before_the_body
@fast_json
@logged("predict")
def predict(request, fields: dict):
    spec = _settings().data_spec
    try:
        parsed = read_request(post_body(request, MAX_BODY_BYTES), spec)
    except BadRequest as bad:
        return bad.response()
    except InvalidRequest as invalid:
        return {"error": invalid.error, "field": invalid.field}, 400
    fields["horizon"] = parsed.horizon
    serving = champion()
    current = serving.get()
    if current is None:
        # The registry is named in the log, never to callers (it names the project).
        fields["registry"] = _settings().registry_uri
        error = serving.problem or "no champion model yet; run the training pipeline first"
        return {"error": error, "field": None}, 503
    version, forecaster = current
    fields["model_version"] = version
    if forecaster.spec != spec:
        return {
            "error": f"champion version {version} expects the data spec {data_spec_variable(forecaster.spec)}; "
            f"this function is configured for {data_spec_variable(spec)} (DATA_SPEC)",
            "field": None,
        }, 503
    try:
        return answer_json(forecaster, version, parsed), 200
    except InvalidRequest as invalid:
        return {"error": invalid.error, "field": invalid.field}, 400


def read_request(raw: bytes, spec: DataSpec) -> Request:
    """The validated request in a body: straight from its bytes when it is in the usual shape
    (typed_json and parse_usual), else through the checked parse and `parse`, with their messages."""
    decoder = usual_body(spec)
    usual = typed_json(raw, decoder) if decoder else None
    return (usual is not None and parse_usual(usual, spec)) or parse(object_of(raw, BODY_KEYS), spec)


# What is loaded by now (numpy, pandas, flask: about 80,000 objects) lives as long as the
# instance: moved out of the collector's reach, a full collection no longer walks it (a pause of
# about 65 ms every few thousand requests, felt by every request in flight).
gc.freeze()
