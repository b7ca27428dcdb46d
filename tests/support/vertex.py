"""A stand-in for Vertex AI Model Registry behind the capture server (tests/http_capture.py): it
answers the requests the real aiplatform client sends for one parent model."""

from __future__ import annotations

from urllib.parse import unquote

PARENT = "projects/acme-mlops-dev/locations/europe-west1/models/forecaster"


class FakeModelRegistry:
    """Answers like Vertex AI Model Registry for one parent model."""

    def __init__(self):
        self.versions: list[dict] = []
        self.champion: str | None = None

    def model(self, version: dict) -> dict:
        aliases = ["default"] + (["champion"] if version["versionId"] == self.champion else [])
        return version | {"name": PARENT, "displayName": "forecaster", "versionAliases": aliases}

    def respond(self, request):
        path = unquote(request.path).removeprefix("/v1/")
        if request.method == "POST" and path.endswith("/models:upload"):
            body = request.json()
            version = {
                "versionId": str(len(self.versions) + 1),
                "artifactUri": body["model"]["artifactUri"],
                "versionDescription": body["model"].get("versionDescription", ""),
                "versionCreateTime": "2026-11-22T03:00:00Z",
            }
            self.versions.append(version)
            if "champion" in body["model"].get("versionAliases", []):
                self.champion = version["versionId"]
            return 200, {
                "name": f"{PARENT}/operations/{len(self.versions)}",
                "done": True,
                "response": {
                    "@type": "type.googleapis.com/google.cloud.aiplatform.v1.UploadModelResponse",
                    "model": PARENT,
                    "modelVersionId": version["versionId"],
                },
            }
        if request.method == "GET" and path.startswith(PARENT):
            wanted = path.removeprefix(PARENT)
            if not self.versions or (wanted == "@champion" and self.champion is None):
                return 404, {"error": {"code": 404, "message": "no such model", "status": "NOT_FOUND"}}
            if wanted == "@champion":
                return 200, self.model(self.versions[int(self.champion) - 1])
            return 200, self.model(self.versions[int(wanted.removeprefix("@")) - 1] if wanted else self.versions[-1])
        return None
