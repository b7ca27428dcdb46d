"""The daily cycle's plain steps: collection, the store's layout, scoring and degradation."""

from __future__ import annotations

import threading
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pandas as pd
import pytest

from pipelines.logic.collection import CollectionError, HttpSource, ReplaySource, collect, history
from pipelines.logic.cycle import CycleConfig, score_step
from pipelines.logic.cycle_store import CycleStore
from pipelines.logic.scoring import degradation
from pipelines.logic.spec import DataSpec

SPEC = DataSpec(frequency="6h")  # four periods a day keeps the tables small
DAY = date(2024, 3, 4)


def day_rows(day: date, values: list[float]) -> pd.DataFrame:
    return pd.DataFrame(
        {"timestamp": pd.date_range(pd.Timestamp(day), periods=len(values), freq="6h"), "demand": values}
    )


def series(days: dict[date, list[float]]) -> pd.DataFrame:
    return pd.concat([day_rows(day, values) for day, values in days.items()], ignore_index=True)


def test_collect_stores_the_day_once_and_a_second_run_changes_nothing(tmp_path):
    store = CycleStore(str(tmp_path))
    source = ReplaySource(series({DAY: [1.0, 2.0, 3.0, 4.0], date(2024, 3, 5): [5.0, 6.0, 7.0, 8.0]}), SPEC)
    first = collect(store, source, DAY, SPEC)
    path = tmp_path / "observations" / "day=2024-03-04" / "observations.parquet"
    written = path.read_bytes()
    again = collect(store, source, DAY, SPEC)
    assert (first.rows, first.already, again.rows, again.already) == (4, False, 4, True)
    assert path.read_bytes() == written
    assert history(store, SPEC)["demand"].tolist() == [1.0, 2.0, 3.0, 4.0]


def test_a_level_shift_multiplies_the_replayed_days_from_its_day_on():
    source = ReplaySource(
        series({DAY: [10.0] * 4, date(2024, 3, 5): [10.0] * 4}), SPEC, shift_day=date(2024, 3, 5), shift_factor=1.5
    )
    assert source.rows(DAY)["demand"].tolist() == [10.0] * 4
    assert source.rows(date(2024, 3, 5))["demand"].tolist() == [15.0] * 4


def test_late_data_is_named_and_leaves_the_store_untouched(tmp_path):
    store = CycleStore(str(tmp_path))
    source = ReplaySource(series({DAY: [1.0, 2.0, 3.0, 4.0]}), SPEC)
    with pytest.raises(CollectionError) as raised:
        collect(store, source, date(2024, 3, 5), SPEC)
    assert str(raised.value) == "replay: no observations for 2024-03-05 yet; the stored series is unchanged"
    assert raised.value.late
    assert not tmp_path.joinpath("observations").exists()


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (
            [1.0, 2.0, 3.0],
            "replay, day 2024-03-04: 3 of the day's 4 periods; expected every period from "
            "2024-03-04 00:00:00 to 2024-03-04 18:00:00",
        ),
        (
            [1.0, -2.0, 3.0, 4.0],
            "replay, day 2024-03-04: column 'demand': 1 value below 0, first -2 at 2024-03-04 06:00:00",
        ),
    ],
)
def test_bad_data_is_named_and_nothing_is_written(tmp_path, values, message):
    store = CycleStore(str(tmp_path))
    with pytest.raises(CollectionError) as raised:
        collect(store, ReplaySource(day_rows(DAY, values), SPEC), DAY, SPEC)
    assert str(raised.value) == message
    assert list(tmp_path.iterdir()) == []


@pytest.fixture
def csv_endpoint():
    """A local HTTP server answering /2024-03-04.csv with the day's CSV and 404 otherwise."""
    body = day_rows(DAY, [1.0, 2.0, 3.0, 4.0]).to_csv(index=False).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            found = self.path == "/2024-03-04.csv"
            self.send_response(200 if found else 404)
            self.end_headers()
            self.wfile.write(body if found else b"")

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/{{day}}.csv"
    server.shutdown()


def test_an_http_source_reads_the_days_csv_and_a_404_is_late(tmp_path, csv_endpoint):
    store = CycleStore(str(tmp_path))
    assert collect(store, HttpSource(csv_endpoint), DAY, SPEC).rows == 4
    assert history(store, SPEC)["demand"].tolist() == [1.0, 2.0, 3.0, 4.0]
    with pytest.raises(CollectionError) as raised:
        collect(store, HttpSource(csv_endpoint), date(2024, 3, 5), SPEC)
    assert raised.value.late
    assert str(raised.value).endswith(".csv: no observations for 2024-03-05 yet; the stored series is unchanged")


def test_scoring_compares_each_version_with_the_naive_rules_and_keeps_the_history(tmp_path):
    store = CycleStore(str(tmp_path))
    days = {date(2024, 2, 26 + n) if n < 4 else date(2024, 3, n - 3): [10.0 + n] * 4 for n in range(8)}
    source = ReplaySource(series(days), SPEC)
    for day in days:
        collect(store, source, day, SPEC)
    origin = date(2024, 3, 3)
    for version, value in (("1", 17.0), ("2", 18.0)):
        frame = day_rows(DAY, [value] * 4).rename(columns={"demand": "forecast"})
        store.write_frame(store.forecasts_path(origin, version), frame.assign(model_version=version, origin="x"))
    config = CycleConfig(
        store_root=str(tmp_path), registry_uri=str(tmp_path / "r"), source={}, data_spec=SPEC.to_dict()
    )
    result = score_step(config, DAY)
    assert result["scored"]
    # Actual 17 on 2024-03-04; a day earlier 16, a week earlier 10.
    assert [(r["model_version"], r["mae"], r["naive_daily_mae"], r["naive_weekly_mae"]) for r in result["scores"]] == [
        ("1", 0.0, 1.0, 7.0),
        ("2", 1.0, 1.0, 7.0),
    ]
    assert tmp_path.joinpath("scores", "day=2024-03-04", "scores.parquet").is_file()
    assert score_step(config, DAY)["scores"] == result["scores"]  # read back, not scored again


def test_a_day_without_forecasts_of_it_is_not_scored(tmp_path):
    store = CycleStore(str(tmp_path))
    collect(store, ReplaySource(day_rows(DAY, [1.0] * 4), SPEC), DAY, SPEC)
    config = CycleConfig(
        store_root=str(tmp_path), registry_uri=str(tmp_path / "r"), source={}, data_spec=SPEC.to_dict()
    )
    assert score_step(config, DAY) == {
        "day": "2024-03-04",
        "scored": False,
        "reason": "2024-03-04: no forecasts were issued for it (origin 2024-03-03); nothing scored",
    }


def scores(maes: list[float], naive: float = 10.0, version: str = "1") -> pd.DataFrame:
    return pd.DataFrame(
        {
            "day": [f"2024-03-0{n + 1}" for n in range(len(maes))],
            "model_version": version,
            "mae": maes,
            "naive_daily_mae": naive,
            "naive_weekly_mae": naive * 2,
        }
    )


def test_degradation_needs_every_one_of_the_last_days_above_the_ratio():
    assert degradation(scores([5, 12, 13, 14]), "1", ratio=1.0, days=3).degraded
    assert not degradation(scores([12, 13, 9, 14]), "1", ratio=1.0, days=3).degraded
    assert not degradation(scores([12, 13, 14]), "1", ratio=1.5, days=3).degraded
    assert not degradation(scores([12, 13]), "1", ratio=1.0, days=3).degraded
    assert not degradation(scores([12, 13, 14], version="2"), "1", ratio=1.0, days=3).degraded


def test_a_gcs_store_and_a_drop_folder_work_the_same_on_the_emulator(gcs_emulator):
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    from pipelines.logic.collection import DropSource

    client = storage.Client(project="test", credentials=AnonymousCredentials())
    bucket = client.create_bucket("acme-mlops-dev-data")
    bucket.blob("incoming/demand/2024-03-04.csv").upload_from_string(
        day_rows(DAY, [1.0, 2.0, 3.0, 4.0]).to_csv(index=False)
    )
    store = CycleStore("gs://acme-mlops-dev-data/cycle/forecaster")
    source = DropSource("acme-mlops-dev-data", "incoming/demand/")
    assert collect(store, source, DAY, SPEC).rows == 4
    assert collect(store, source, DAY, SPEC).already
    assert store.list("observations") == ["observations/day=2024-03-04/observations.parquet"]
    assert bucket.blob("cycle/forecaster/observations/day=2024-03-04/observations.parquet").exists()
    assert history(store, SPEC)["demand"].tolist() == [1.0, 2.0, 3.0, 4.0]
    with pytest.raises(CollectionError) as raised:
        collect(store, source, date(2024, 3, 5), SPEC)
    assert str(raised.value) == (
        "gs://acme-mlops-dev-data/incoming/demand/: no observations for 2024-03-05 yet; the stored series is unchanged"
    )


def test_a_local_csv_is_collected_a_day_at_a_time(tmp_path):
    """`make run-pipeline PIPELINE=daily` on a user's own file: each day's rows, as the reference's."""
    from pipelines.logic.cycle import CycleConfig, source_of

    path = tmp_path / "demand.csv"
    series({DAY: [1.0, 2.0, 3.0, 4.0], date(2024, 3, 6): [5.0] * 4}).to_csv(path, index=False)
    config = CycleConfig.from_parameters(
        {"source": str(path), "registry_uri": str(tmp_path / "registry"), "data_spec": SPEC.to_dict()}
    )
    store = CycleStore(str(tmp_path / "store"))
    collect(store, source_of(config), DAY, SPEC)
    assert history(store, SPEC)["demand"].tolist() == [1.0, 2.0, 3.0, 4.0]


def test_a_store_holds_one_series_and_refuses_a_day_of_another_spec(tmp_path):
    """Another model's days (another registry named alike, or before any champion) never mix in."""
    store = CycleStore(str(tmp_path))
    collect(store, ReplaySource(series({DAY: [1.0] * 4}), SPEC), DAY, SPEC)
    sales = DataSpec(target_column="sales", frequency="6h")
    other = ReplaySource(series({date(2024, 3, 5): [2.0] * 4}).rename(columns={"demand": "sales"}), sales)
    with pytest.raises(CollectionError) as refused:
        collect(store, other, date(2024, 3, 5), sales)
    assert str(refused.value) == (
        f"cycle store {tmp_path} holds another series: target_column 'demand' here, 'sales' in this run; expected "
        "a day of its own series (each model's cycle has a store of its own: run it with that model's registry_uri)"
    )
    assert history(store, SPEC)["demand"].tolist() == [1.0] * 4
    # A store from before the record: its observations' columns decide.
    (tmp_path / CycleStore.SPEC_PATH).unlink()
    with pytest.raises(CollectionError, match=r"holds another series: columns \['timestamp', 'demand'\] here"):
        collect(store, other, date(2024, 3, 5), sales)


def test_a_missed_day_stays_a_gap_on_the_grid(tmp_path):
    store = CycleStore(str(tmp_path))
    source = ReplaySource(series({DAY: [1.0] * 4, date(2024, 3, 6): [3.0] * 4}), SPEC)
    collect(store, source, DAY, SPEC)
    collect(store, source, date(2024, 3, 6), SPEC)
    found = history(store, SPEC)
    assert len(found) == 12
    assert found["demand"].isna().tolist() == [False] * 4 + [True] * 4 + [False] * 4


@pytest.mark.parametrize(
    ("parameters", "source"),
    [
        ({"source": "reference"}, {"kind": "reference"}),
        (
            {"source": "gs://acme-mlops-dev-data/incoming/demand"},
            {"kind": "drop", "bucket": "acme-mlops-dev-data", "prefix": "incoming/demand/"},
        ),
        (
            {"source": "reference", "source_url": "https://data.example.com/{day}.csv"},
            {"kind": "http", "url": "https://data.example.com/{day}.csv"},
        ),
        ({"source": "/data/bakery/sales.csv"}, {"kind": "file", "path": "/data/bakery/sales.csv"}),  # a local run's
    ],
)
def test_the_daily_pipelines_parameters_name_the_source_and_the_store_follows_the_registry(parameters, source):
    config = CycleConfig.from_parameters(
        parameters | {"registry_uri": "vertex://acme-mlops-dev/europe-west1/forecaster", "degradation_days": 5}
    )
    assert config.source == source
    assert config.store_root == "gs://acme-mlops-dev-data/cycle/forecaster"
    assert config.degradation_days == 5


def test_a_teams_cycle_keeps_its_files_in_the_teams_folder():
    from pipelines.logic.cycle_store import store_root

    assert store_root("vertex://acme-mlops-dev/europe-west1/forecaster-team-demand") == (
        "gs://acme-mlops-dev-data/teams/demand/cycle/forecaster-team-demand"
    )


def test_each_local_registry_has_a_store_of_its_own(tmp_path):
    """Locally too, one model's days never mix with another's (a store holds one series of one spec)."""
    from environments.loading import BUILD_DIR, LOCAL_MODELS, LOCAL_REGISTRY
    from pipelines.logic.cycle_store import store_root

    assert store_root(str(LOCAL_REGISTRY)) == str(BUILD_DIR / "cycle" / "forecaster")
    assert store_root(str(LOCAL_MODELS / "forecaster-b69aab8f-sales")) == str(
        BUILD_DIR / "cycle" / "forecaster-b69aab8f-sales"
    )
    # Folders elsewhere are named after themselves and their paths: two of one name stay two models.
    first, second = store_root(str(tmp_path / "a" / "bakery")), store_root(str(tmp_path / "b" / "bakery"))
    assert first != second and Path(first).parent == Path(second).parent == BUILD_DIR / "cycle"
    assert Path(first).name.startswith("bakery-") and store_root(str(tmp_path / "a" / "x" / ".." / "bakery")) == first
    assert store_root(str(LOCAL_MODELS / "forecaster")) != store_root(str(LOCAL_REGISTRY)), "named like the platform's"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--days", "0"], "DAYS=0 is out of range; expected 1 to 28 (the reference series' length)"),
        (["--days", "14", "--shift-day", "15"], "SHIFT_DAY=15 is out of range; expected 1 to DAYS (14)"),
    ],
)
def test_simulate_refuses_days_out_of_range_before_any_work(argv, message, capsys, tmp_path, monkeypatch):
    from tools import simulate

    monkeypatch.setattr(simulate, "REGISTRY", tmp_path / "registry" / "simulation")
    monkeypatch.setattr("pipelines.logic.cycle_store.LOCAL_CYCLE_ROOT", tmp_path / "cycle")
    (tmp_path / "cycle" / "simulation").mkdir(parents=True)  # a previous simulation's store
    with pytest.raises(SystemExit) as exited:
        simulate.main(argv)
    assert exited.value.code == 2
    assert capsys.readouterr().err.strip().endswith(f"error: {message}")
    assert (tmp_path / "cycle" / "simulation").exists(), "nothing is removed before the arguments are checked"


def test_a_retried_retraining_finds_the_version_it_registered_instead_of_registering_another(tmp_path):
    from datetime import timedelta

    from pipelines.logic.cycle import retrain_step
    from pipelines.logic.data import load_reference
    from pipelines.logic.registry import open_registry

    config = CycleConfig(store_root=str(tmp_path / "store"), registry_uri=str(tmp_path / "registry"), source={})
    source = ReplaySource(load_reference(), config.spec)
    days = [source.days[0] + timedelta(days=n) for n in range(56)]
    for day in days:
        collect(config.store, source, day, config.spec)
    first = retrain_step(config, days[-1])  # no champion yet: the check asks for retraining
    assert first["retrained"] is True
    # The task failed after registering, before its outcome was kept: Airflow retries it.
    (tmp_path / "store" / "retraining" / f"day={days[-1].isoformat()}.json").unlink()
    again = retrain_step(config, days[-1])
    assert again == first
    registry = open_registry(config.registry_uri)
    assert [(v.version, v.metrics["cycle_day"]) for v in registry.versions()] == [(first["version"], "2000-07-30")]


def test_a_cycles_first_days_skip_what_they_cannot_do_yet_and_say_why(tmp_path):
    """A new cycle's store holds a day or two: retraining (no champion yet) and the next day's
    forecast (a champion trained elsewhere) wait for enough collected days instead of failing."""
    from datetime import timedelta

    from pipelines.logic.backtest import train_challenger
    from pipelines.logic.cycle import run_day
    from pipelines.logic.data import load_reference, validate
    from pipelines.logic.registry import open_registry

    config = CycleConfig(store_root=str(tmp_path / "store"), registry_uri=str(tmp_path / "registry"), source={})
    reference = load_reference()
    source = ReplaySource(reference, config.spec)
    first = run_day(config, source.days[0], source)
    assert first.retraining == {
        "day": "2000-06-05",
        "retrained": False,
        "reason": "only 48 periods collected; expected at least 1344 to retrain (28 days at 30min)",
    }
    assert first.forecast == {"origin": "2000-06-05", "forecast": False, "reason": "no champion yet"}

    trained = tmp_path / "trained"
    training = validate(reference, config.spec, "reference").iloc[-30 * 48 :]
    train_challenger(training, config.spec, 2, families=("seasonal",)).save(trained)
    metrics = {"holdout": {}, "baseline": {}, "promoted": True, "reason": "trained elsewhere"}
    open_registry(config.registry_uri).register(trained, metrics, promote=True)
    second = run_day(config, source.days[0] + timedelta(days=1), source)
    assert second.forecast == {
        "origin": "2000-06-06",
        "forecast": False,
        "reason": "through 2000-06-06, only 96 periods of history; expected at least 384 (8 days at 30min)",
    }
