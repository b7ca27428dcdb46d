"""`make wait-dashboard-image ENV=`: wait until the image the dashboard's service runs is published.

The dashboard runs the components image of the commit being deployed (`pipelines/Dockerfile`,
pushed by cloudbuild/publish-pipelines.yaml, tagged with the commit). The deploy build runs beside
the publish build, and Cloud Run refuses a service whose image does not exist yet, so the deploy
waits here first (up to `ATTEMPTS` x `INTERVAL_SECONDS`). Environments without `dashboard` do not
wait. Asks Artifact Registry for the tag (artifactregistry.googleapis.com, `tags.get`:
cloud.google.com/artifact-registry/docs/reference/rest/v1/projects.locations.repositories.packages.tags/get).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable

from environments.credentials import google_credentials, not_ready, refused
from environments.loading import load_environment
from environments.messages import ConfigError
from environments.schema import Environment
from pipelines.ops.cli import components_image

ENDPOINT = "https://artifactregistry.googleapis.com"
ATTEMPTS = 60
INTERVAL_SECONDS = 30


def tag_url(environment: Environment, endpoint: str = ENDPOINT) -> str:
    """The Artifact Registry tag resource of the image `components_image(environment)` names."""
    image, tag = components_image(environment).rsplit(":", 1)
    _, project, repository, package = image.split("/")
    location = environment.region
    return (
        f"{endpoint}/v1/projects/{project}/locations/{location}/repositories/{repository}/packages/{package}/tags/{tag}"
    )


def wait_for_image(
    environment: Environment,
    session,
    endpoint: str = ENDPOINT,
    attempts: int = ATTEMPTS,
    sleep: Callable[[float], None] = time.sleep,
) -> bool:
    """True once the tag exists; False after `attempts` answers that it does not. Any other answer
    (no permission, a bad request) raises: waiting would not change it."""
    url = tag_url(environment, endpoint)
    for attempt in range(attempts):
        response = session.get(url, timeout=30)
        if response.status_code == 200:
            return True
        if response.status_code != 404:
            response.raise_for_status()
        if attempt < attempts - 1:
            sleep(INTERVAL_SECONDS)
    return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", required=True)
    args = parser.parse_args(argv)
    try:
        environment = load_environment(args.env)
    except ConfigError as error:
        print(error, file=sys.stderr)
        return 2
    image = components_image(environment)
    if environment.dashboard is None:
        print(f"{args.env} deploys no dashboard: not waiting for {image}")
        return 0
    from google.auth.transport.requests import AuthorizedSession

    try:
        published = wait_for_image(environment, AuthorizedSession(google_credentials(environment.project_id)))
    except not_ready() as error:
        return refused(error, f"wait-dashboard-image {args.env}")
    if published:
        print(f"{image} is published")
        return 0
    print(
        f"{image} is not published after {ATTEMPTS * INTERVAL_SECONDS} s; "
        "expected the publish build of this commit to push it",
        file=sys.stderr,
    )
    return 1


if __name__ == "__main__":
    sys.exit(main())
