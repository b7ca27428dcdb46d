"""The two registry versions the dashboard tests register, local and on (a stand-in for) Vertex AI."""

V1 = {
    "holdout": {"mae": 355.9, "rmse": 460.7, "mape": 1.18},
    "baseline": {"mae": 370.1, "rmse": 488.8, "mape": 1.22},
    "promoted": True,
    "reason": "no champion yet; challenger mae 355.86 beats the baseline 370.12",
    "previous_champion": None,
}
V2 = {
    "holdout": {"mae": 356.2, "rmse": 461.0, "mape": 1.19},
    "baseline": {"mae": 370.1, "rmse": 488.8, "mape": 1.22},
    "promoted": False,
    "reason": "challenger mae 356.20 does not beat champion 355.86 by 1%",
    "previous_champion": "1",
}
