"""Google credentials for the command-line tools, with a message saying how to get them."""

from __future__ import annotations

import sys

from environments.messages import ConfigError


class MissingPrerequisite(Exception):
    """Something outside the repository (a binary, credentials, a synthesized stack) is missing."""


def google_credentials(project_id: str):
    """Application Default Credentials, or MissingPrerequisite saying how to get them."""
    import google.auth
    from google.auth.exceptions import DefaultCredentialsError

    try:
        credentials, _ = google.auth.default(scopes=["https://www.googleapis.com/auth/cloud-platform"])
    except DefaultCredentialsError:
        raise MissingPrerequisite(
            "no Google Cloud credentials found; run `gcloud auth application-default login` "
            f"(with access to project {project_id}), set GOOGLE_APPLICATION_CREDENTIALS, or run in Cloud Build"
        ) from None
    return credentials


def refused(error: ConfigError | MissingPrerequisite, where: str) -> int:
    """Print why a command cannot run (a config problem per line, or `where: what is missing`) and
    return its exit code: 2, as for any usage error."""
    lines = error.problems if isinstance(error, ConfigError) else [f"{where}: {error}"]
    print("\n".join(lines), file=sys.stderr)
    return 2
