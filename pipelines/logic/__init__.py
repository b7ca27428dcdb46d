"""Plain logic: data, features, models, evaluation, the gate, registries, forecasts, drift.
No KFP, no Vertex AI submission: everything here is called directly and tested directly.
"""
