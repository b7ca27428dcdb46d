"""The deploy waits for the dashboard's image: Artifact Registry's answers captured at a local server."""

from __future__ import annotations

import pytest
import requests

from environments.loading import load_environment
from tests.http_capture import CaptureServer
from tools.dashboard.image import main, tag_url, wait_for_image

TAG = (
    "/v1/projects/acme-mlops-dev/locations/europe-west1/repositories/containers/packages/python-components/tags/abc1234"
)


@pytest.fixture
def dev(monkeypatch):
    monkeypatch.setenv("IMAGE_TAG", "abc1234")
    return load_environment("dev")


def test_the_tag_is_the_components_image_of_this_commit(dev):
    assert tag_url(dev) == f"https://artifactregistry.googleapis.com{TAG}"


def test_waits_until_the_tag_exists(dev):
    answers = iter([None, None, (200, {"name": TAG.removeprefix("/v1/")})])
    pauses = []
    with CaptureServer(lambda request: next(answers)) as server:
        assert wait_for_image(dev, requests.Session(), endpoint=server.url, sleep=pauses.append) is True
    assert [(r.method, r.path) for r in server.requests] == [("GET", TAG)] * 3
    assert pauses == [30, 30]


def test_gives_up_after_its_attempts(dev):
    with CaptureServer(lambda request: None) as server:
        assert wait_for_image(dev, requests.Session(), endpoint=server.url, attempts=3, sleep=lambda _: None) is False
    assert len(server.requests) == 3


def test_a_refusal_is_an_error_at_once(dev):
    with CaptureServer(lambda request: (403, {"error": {"code": 403}})) as server, pytest.raises(requests.HTTPError):
        wait_for_image(dev, requests.Session(), endpoint=server.url, sleep=lambda _: None)
    assert len(server.requests) == 1


def test_an_environment_without_a_dashboard_does_not_wait(environments_dir, monkeypatch, capsys):
    monkeypatch.setenv("IMAGE_TAG", "abc1234")
    (environments_dir / "plain.yaml").write_text(
        "project_id: plain-env\nregion: europe-west1\nstate_bucket: plain-env-tfstate\n"
        "functions: {predict: {invokers: [group:callers@example.com]}}\n"
    )
    assert main(["--env", "plain"]) == 0
    assert capsys.readouterr().out == (
        "plain deploys no dashboard: not waiting for "
        "europe-west1-docker.pkg.dev/plain-env/containers/python-components:abc1234\n"
    )


def test_an_unknown_environment_exits_2(environments_dir, capsys):
    assert main(["--env", "nowhere"]) == 2
    assert "nowhere" in capsys.readouterr().err
