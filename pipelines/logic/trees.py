"""Predictions of an XGBoost booster for a few rows at a time, through XGBoost's C API.

`Booster.inplace_predict` spends more time in Python than the library spends predicting the 48
rows of a request: each call dispatches over every input type xgboost accepts (pandas, arrow,
cudf, polars...), validates feature names and builds its configuration. This calls the very C
function it ends in, `XGBoosterPredictFromDense` (xgboost's c_api.h), with the configuration built
once and the input always a C-contiguous float32 matrix. Same function, same booster, same
results: a test compares them on random matrices with missing values.
"""

from __future__ import annotations

import ctypes
import json

import numpy as np


class TreePredictor:
    """`predictor(matrix)`: the booster's prediction (its `value`, base score included) per row."""

    def __init__(self, booster) -> None:
        from xgboost.libpath import find_lib_path

        self.booster = booster  # holds the handle alive
        self._library = ctypes.cdll.LoadLibrary(find_lib_path()[0])  # the library xgboost loaded
        self._library.XGBGetLastError.restype = ctypes.c_char_p
        # As inplace_predict builds it for predict_type="value": every tree, NaN as missing.
        self._config = json.dumps(
            {
                "type": 0,
                "training": False,
                "iteration_begin": 0,
                "iteration_end": 0,
                "missing": float("nan"),
                "strict_shape": False,
                "cache_id": 0,
            }
        ).encode()

    def __call__(self, matrix: np.ndarray) -> np.ndarray:
        matrix = np.ascontiguousarray(matrix, dtype=np.float32)
        rows, columns = matrix.shape
        interface = (
            f'{{"data": [{matrix.ctypes.data}, true], "shape": [{rows}, {columns}], "strides": null, '
            f'"typestr": "<f4", "version": 3}}'
        ).encode()
        shape = ctypes.POINTER(ctypes.c_uint64)()
        dimensions = ctypes.c_uint64()
        result = ctypes.POINTER(ctypes.c_float)()
        status = self._library.XGBoosterPredictFromDense(
            self.booster.handle,
            interface,
            self._config,
            None,  # no proxy: no base margin
            ctypes.byref(shape),
            ctypes.byref(dimensions),
            ctypes.byref(result),
        )
        if status != 0:
            raise RuntimeError(f"xgboost prediction failed: {self._library.XGBGetLastError().decode()}")
        # The result lives in the library's per-thread buffer until the next call: copy it out.
        return np.ctypeslib.as_array(result, (rows,)).copy()
