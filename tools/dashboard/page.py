"""The dashboard page: plotly charts of what `data.gather` found, drawn by the plotly.js bundle
that ships inside the plotly wheel (served by the dashboard itself: the page needs no network)."""

from __future__ import annotations

from html import escape

import plotly.graph_objects as go

PLOTLY_JS = "/plotly.min.js"
METRIC = "mae"  # the gate's default metric; the table shows every metric


def _chart(figure: go.Figure, div_id: str, title: str) -> str:
    figure.update_layout(title=title, height=360, margin={"l": 60, "r": 20, "t": 50, "b": 40}, template="plotly_white")
    return figure.to_html(include_plotlyjs=False, full_html=False, div_id=div_id)


def _empty(div_id: str, title: str, hint: str) -> str:
    return f'<section id="{div_id}"><h2>{escape(title)}</h2><p class="empty">{escape(hint)}</p></section>'


def forecasts_chart(backtest: dict | None) -> str:
    title = "Forecasts against actuals"
    if backtest is None:
        return _empty(
            "forecasts", title, "No champion yet: run `make run-pipeline PIPELINE=training` (or `make demo`)."
        )
    x = backtest["timestamps"]
    bands = []
    for level, shade in ((95, "rgba(31, 119, 180, 0.12)"), (80, "rgba(31, 119, 180, 0.22)")):
        if f"lo_{level}" in backtest:  # a filled area between the two bounds
            bands += [
                go.Scatter(x=x, y=backtest[f"lo_{level}"], line={"width": 0}, showlegend=False, hoverinfo="skip"),
                go.Scatter(
                    x=x,
                    y=backtest[f"hi_{level}"],
                    line={"width": 0},
                    fill="tonexty",
                    fillcolor=shade,
                    name=f"{level} % interval",
                ),
            ]
    figure = go.Figure(
        [
            *bands,
            go.Scatter(x=x, y=backtest["actual"], name="actual", line={"color": "#222"}),
            go.Scatter(x=x, y=backtest["forecast"], name=f"champion (version {backtest['version']})"),
            go.Scatter(x=x, y=backtest["naive"], name="seasonal naive (a week before)", line={"dash": "dot"}),
        ]
    )
    figure.update_yaxes(title=backtest["target"])
    shown = "with its intervals" if bands else "point forecasts: this version has no intervals"
    return _chart(
        figure,
        "forecasts",
        f"{title}: last {len(x)} periods of the data it was trained on, each day from the days before it, in "
        f"sample ({shown})",
    )


def accuracy_chart(rows: list[dict]) -> str:
    title = f"Accuracy per model version (holdout {METRIC.upper()}, lower is better)"
    scored = [row for row in rows if METRIC in row["holdout"]]
    if not scored:
        return _empty("accuracy", title, "No registered version with holdout metrics yet.")
    versions = [f"v{row['version']}" for row in scored]
    figure = go.Figure(
        [
            go.Bar(x=versions, y=[row["holdout"][METRIC] for row in scored], name="model"),
            go.Scatter(
                x=versions,
                y=[row["baseline"].get(METRIC) for row in scored],
                name="seasonal-naive baseline",
                mode="lines+markers",
            ),
        ]
    )
    return _chart(figure, "accuracy", title)


def champion_chart(champions: list[dict]) -> str:
    title = "Champion history"
    if not champions:
        return _empty("champions", title, "No version has been promoted yet.")
    figure = go.Figure(
        go.Scatter(
            x=[c["since"] for c in champions],
            y=[f"v{c['version']}" for c in champions],
            mode="lines+markers",
            line={"shape": "hv"},
            text=[c["reason"] for c in champions],
            name="champion",
        )
    )
    return _chart(figure, "champions", title)


def drift_chart(drift: dict | None) -> str:
    title = "Drift"
    if drift is None:
        return _empty(
            "drift",
            title,
            "No monitoring run yet: run `make run-pipeline PIPELINE=monitoring` (for a model of your own, "
            "with the `source` and `registry_uri` it was trained with in PARAMS).",
        )
    figure = go.Figure(go.Bar(x=["share of drifted columns"], y=[drift["drift_share"]], name=f"run {drift['run']}"))
    figure.add_hline(y=drift["threshold"], line_dash="dash", annotation_text=f"threshold {drift['threshold']:.2f}")
    figure.update_yaxes(range=[0, 1])
    return _chart(figure, "drift", f"{title} (newest monitoring run: {drift['run']})")


# What fills the daily cycle's panels (its store is the dashboard registry's model's).
CYCLE_HINT = (
    "run `make run-pipeline PIPELINE=daily` for this model's days (or `make simulate DAYS=14`, then "
    "`make dashboard DASHBOARD_REGISTRY=build/registry/models/simulation`)."
)


def cycle_forecasts_chart(forecasts: dict | None) -> str:
    title = "Daily cycle: stored forecasts against actuals"
    if forecasts is None:
        return _empty("cycle-forecasts", title, f"The daily cycle has stored no forecast yet: {CYCLE_HINT}")
    x = forecasts["timestamps"]
    traces = [go.Scatter(x=x, y=forecasts["actual"], name="actual", line={"color": "#222"})]
    traces += [
        go.Scatter(x=x, y=values, name=f"version {version}") for version, values in forecasts["versions"].items()
    ]
    figure = go.Figure(traces)
    figure.update_yaxes(title=forecasts["target"])
    return _chart(figure, "cycle-forecasts", f"{title} (each forecast issued the day before)")


def cycle_accuracy_chart(rows: list[dict]) -> str:
    title = "Daily cycle: daily MAE per model version next to the naive rules (lower is better)"
    if not rows:
        return _empty("cycle-accuracy", title, f"No day has been scored yet: {CYCLE_HINT}")
    days = sorted({row["day"] for row in rows})
    first = {}
    for row in rows:
        first.setdefault(row["day"], row)
    traces = []
    for version in sorted({row["version"] for row in rows}, key=lambda v: int(v) if v.isdigit() else 0):
        mine = [row for row in rows if row["version"] == version]
        traces.append(go.Scatter(x=[r["day"] for r in mine], y=[r["mae"] for r in mine], name=f"version {version}"))
    for rule, label in (("naive_daily", "naive: a day before"), ("naive_weekly", "naive: a week before")):
        traces.append(
            go.Scatter(
                x=days, y=[first[day][rule] for day in days], name=label, line={"dash": "dot"}, mode="lines+markers"
            )
        )
    return _chart(go.Figure(traces), "cycle-accuracy", title)


def _table(section: str, title: str, header: list[str], rows: list[list], hint: str) -> str:
    if not rows:
        return _empty(section, title, hint)
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{escape(str(v))}</td>" for v in row) + "</tr>" for row in rows)
    return f'<section id="{section}"><h2>{escape(title)}</h2><table><tr>{head}</tr>{body}</table></section>'


def render(data: dict) -> str:
    def metric(values: dict, name: str) -> str:
        return f"{values[name]:.1f}" if name in values else ""

    versions = [
        [
            row["version"],
            row["created"],
            metric(row["holdout"], "mae"),
            metric(row["baseline"], "mae"),
            metric(row["holdout"], "rmse"),
            "yes" if row["promoted"] else "no",
            row["reason"],
        ]
        for row in reversed(data["accuracy"])
    ]
    runs = [[r["run"], r["status"], f"{r['finished']}/{r['tasks']}"] for r in data["runs"]]
    sections = [
        forecasts_chart(data["backtest"]),
        accuracy_chart(data["accuracy"]),
        champion_chart(data["champions"]),
        drift_chart(data["drift"]),
        _table(
            "versions",
            "Model versions",
            ["version", "registered", "MAE", "baseline MAE", "RMSE", "promoted", "gate"],
            versions,
            "No registered version yet.",
        ),
        _table(
            "runs",
            "Recent local pipeline runs",
            ["run", "status", "tasks finished"],
            runs,
            "No local run yet.",
        ),
    ]
    if "cycle" in data:  # the daily cycle's store was given (make dashboard: the registry's, build/cycle/<model>)
        sections += [cycle_forecasts_chart(data["cycle"]["forecasts"]), cycle_accuracy_chart(data["cycle"]["accuracy"])]
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>MLOps platform: forecasts and model health</title>
<script src="{PLOTLY_JS}"></script>
<style>body{{font-family:sans-serif;margin:1.5em;max-width:1100px}} table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:.25em .5em;text-align:left}} .empty{{color:#777}}</style></head>
<body><h1>Forecasts and model health</h1>
{"".join(sections)}
</body></html>
"""
