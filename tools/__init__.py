"""Whole-repository tools: they import everything else (infra, functions, pipelines, environments),
and nothing imports them.

demo.py      `make demo`: the main job on embedded defaults, no cloud account
dashboard/   `make dashboard`: forecasts, accuracy, champion history, drift and runs, in a browser
"""
