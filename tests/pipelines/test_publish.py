"""make publish-pipelines: the exact requests kfp's RegistryClient sends to the environment's KFP
repository (redirected to a local server that answers like Artifact Registry: Google is out of
reach), re-runs that change nothing, and release tags that never move."""

from __future__ import annotations

import hashlib
import json
import re
from urllib.parse import urlsplit

import pytest
import requests

from environments.loading import load_environment
from pipelines.ops.cli import UsageError, publish
from tests.http_capture import CaptureServer

REPOSITORY = "projects/acme-mlops-prod/locations/europe-west1/repositories/pipelines"


class FakeKfpRepository:
    """Uploads become versions named by their content's sha256; tags point at versions."""

    def __init__(self) -> None:
        self.tags: dict[tuple[str, str], str] = {}

    def respond(self, request):
        if request.method == "POST" and request.path == "/acme-mlops-prod/pipelines":
            name = re.search(rb"pipelineInfo:\s+(?:description:[^\n]*\n\s+)?name: (\w+)", request.body)[1].decode()
            boundary = request.headers["content-type"].split("boundary=")[1].encode()
            template = request.body.replace(boundary, b"")  # the file, without the random part markers
            return 200, f"{name}/sha256:{hashlib.sha256(template).hexdigest()[:12]}"
        match = re.fullmatch(rf"/v1/{REPOSITORY}/packages/(\w+)/tags(?:/([\w.-]+))?", request.path)
        if not match:
            return None
        package, tag = match[1], match[2] or request.query.get("tagId", [None])[0]
        if request.method == "GET":
            if (package, tag) not in self.tags:
                return 404, {"error": {"code": 404, "status": "NOT_FOUND"}}
            return 200, {"name": tag, "version": self.tags[package, tag]}
        self.tags[package, tag] = request.json()["version"]  # POST creates, PATCH moves
        return 200, request.json()


@pytest.fixture
def repository(monkeypatch):
    from google.oauth2.credentials import Credentials

    monkeypatch.setenv("IMAGE_TAG", "abc123def456")
    monkeypatch.setenv("COMMIT_SHA", "abc123def456")
    monkeypatch.setattr("pipelines.ops.cli.google_credentials", lambda project: Credentials(token="test-token"))
    fake = FakeKfpRepository()
    with CaptureServer(fake.respond) as server:
        for method in ("get", "post", "patch"):
            real = getattr(requests, method)

            def to_local(url, _real=real, **kwargs):  # same path, query, headers and body; local host
                parts = urlsplit(url)
                return _real(f"{server.url}{parts.path}" + (f"?{parts.query}" if parts.query else ""), **kwargs)

            monkeypatch.setattr(f"kfp.registry.registry_client.requests.{method}", to_local)
        yield fake, server


def version_of(fake, package: str, tag: str) -> str:
    return fake.tags[package, tag].rsplit("/", 1)[1]


def test_every_template_is_uploaded_and_tagged_with_release_commit_and_latest(repository):
    _, server = repository
    published = publish(load_environment("prod"), "v1.4.0")

    assert sorted(published) == ["daily", "monitoring", "prediction", "training"]
    assert all(p["tags"] == ["v1.4.0", "abc123def456", "latest"] for p in published.values())
    uploads = [r for r in server.requests if r.path == "/acme-mlops-prod/pipelines"]
    assert len(uploads) == 4
    for upload in uploads:
        assert upload.headers["content-type"].startswith("multipart/form-data")
        assert upload.headers["authorization"] == "Bearer test-token"
        assert b'name="tags"' not in upload.body  # tags are placed one by one, checked first
        assert b"europe-west1-docker.pkg.dev/acme-mlops-prod/containers/python-components:abc123def456" in upload.body
    creates = [r for r in server.requests if r.method == "POST" and "tagId" in r.query]
    assert sorted((r.path.split("/")[-2], r.query["tagId"][0]) for r in creates) == sorted(
        (name, tag)
        for name in ("daily", "monitoring", "prediction", "training")
        for tag in ("v1.4.0", "abc123def456", "latest")
    )
    assert json.loads(creates[0].body)["version"].startswith(f"{REPOSITORY}/packages/")


def test_publishing_again_changes_nothing_and_a_second_release_tag_on_the_same_commit_is_added(repository):
    fake, server = repository
    first = publish(load_environment("prod"), "v1.4.0")
    before = dict(fake.tags)
    again = publish(load_environment("prod"), "v1.4.0")
    assert again == first and fake.tags == before
    publish(load_environment("prod"), "v1.4.1")
    assert version_of(fake, "training", "v1.4.1") == version_of(fake, "training", "v1.4.0")
    assert not [r for r in server.requests if r.method == "PATCH"], "nothing moved"


def test_a_release_tag_is_never_moved_but_latest_is(repository, monkeypatch):
    fake, server = repository
    publish(load_environment("prod"), "v1.4.0")
    fake.tags["training", "latest"] = f"{REPOSITORY}/packages/training/versions/sha256:older"
    publish(load_environment("prod"), None)
    assert version_of(fake, "training", "latest") == version_of(fake, "training", "abc123def456")
    assert [r.path.split("/")[-1] for r in server.requests if r.method == "PATCH"] == ["latest"]

    fake.tags["training", "v1.4.0"] = f"{REPOSITORY}/packages/training/versions/sha256:other"
    with pytest.raises(UsageError) as refused:
        publish(load_environment("prod"), "v1.4.0")
    assert str(refused.value) == (
        "TAG: 'v1.4.0' already names training version sha256:other; expected a new tag (release and commit tags "
        "are never moved)"
    )


@pytest.mark.parametrize("tag", ["v1`{touch,/tmp/x}`", "v1;id", "../v1", "v1\n"])
def test_a_tag_that_is_not_a_template_tag_is_refused_before_anything_is_sent(repository, tag):
    _, server = repository
    with pytest.raises(UsageError) as refused:
        publish(load_environment("prod"), tag)
    assert str(refused.value) == f"TAG: {tag!r} is not a template tag; expected e.g. v1.2.0"
    assert server.requests == []
