"""make publish-pipelines: the exact upload requests kfp's RegistryClient sends to the
environment's KFP repository (redirected to a local server: Artifact Registry is out of reach)."""

from __future__ import annotations

from urllib.parse import urlsplit

import requests

from environments.config import load_environment
from pipelines.cli import publish
from tests.http_capture import CaptureServer


def test_every_template_is_uploaded_tagged_with_release_commit_and_latest(monkeypatch):
    from google.oauth2.credentials import Credentials

    prod = load_environment("prod")
    monkeypatch.setenv("IMAGE_TAG", "abc123def456")
    monkeypatch.setenv("COMMIT_SHA", "abc123def456")
    token = Credentials(token="test-token")
    monkeypatch.setattr("pipelines.cli.google_credentials", lambda project: token)

    def respond(request):
        return (200, "pipeline/sha256:1") if request.method == "POST" else None

    with CaptureServer(respond) as server:
        real_post = requests.post

        def to_local(url, **kwargs):  # same path, query, headers and body; local host
            parts = urlsplit(url)
            return real_post(f"{server.url}{parts.path}", **kwargs)

        monkeypatch.setattr("kfp.registry.registry_client.requests.post", to_local)
        published = publish(prod, "v1.4.0")

    assert sorted(published) == ["monitoring", "prediction", "training"]
    assert all(p["tags"] == ["v1.4.0", "abc123def456", "latest"] for p in published.values())
    uploads = server.requests
    assert [u.path for u in uploads] == ["/acme-mlops-prod/pipelines"] * 3
    for upload in uploads:
        assert upload.headers["content-type"].startswith("multipart/form-data")
        assert upload.headers["authorization"] == "Bearer test-token"
        assert b'name="tags"\r\n\r\nv1.4.0,abc123def456,latest' in upload.body
        assert b"europe-west1-docker.pkg.dev/acme-mlops-prod/containers/python-components:abc123def456" in upload.body
