"""Google credentials for the command-line tools, with a message saying how to get them."""

from __future__ import annotations

import os
import sys

from environments.messages import ConfigError


class MissingPrerequisite(Exception):
    """Something outside the repository (a binary, credentials, a synthesized stack) is missing."""


def not_ready() -> tuple[type[Exception], ...]:
    """What a command-line main refuses (`refused`) rather than crash on, beside its own usage
    errors: a missing prerequisite, and credentials found but not usable (google.auth's errors, raised
    at the first call: an expired or revoked login, no network to refresh it). Imported only when
    an exception is being matched (`except (ConfigError, *not_ready())`)."""
    from google.auth.exceptions import GoogleAuthError

    return MissingPrerequisite, GoogleAuthError


def google_api_errors() -> tuple[type[Exception], ...]:
    """A Google API's refusal (google.api_core's GoogleAPICallError: a missing permission, a quota,
    an outage), for `except google_api_errors()`: evaluated only when an exception is matched, so a
    command that never calls Google never imports google.api_core (and grpc: about 60 ms)."""
    from google.api_core.exceptions import GoogleAPICallError

    return (GoogleAPICallError,)


def api_refused(error: Exception, where: str = "") -> int:
    """Print a Google API's answer in one line (its code and message, after `where: ` when given),
    no traceback, and return 1: the call was made, and refused."""
    print(f"{where}: " * bool(where) + f"{error.code} {error.message}", file=sys.stderr)
    return 1


def google_credentials(project_id: str):
    """Application Default Credentials, or MissingPrerequisite saying how to get them."""
    import google.auth
    from google.auth.exceptions import DefaultCredentialsError

    named = os.environ.get("GOOGLE_APPLICATION_CREDENTIALS")
    if named and not os.path.isfile(named):
        raise MissingPrerequisite(
            f"GOOGLE_APPLICATION_CREDENTIALS names {named[:200]!r}, which is not a file; expected the file "
            "`gcloud auth application-default login` writes, or the variable unset"
        )
    try:
        credentials, _ = google.auth.default(scopes=["https://www.googleapis.com/auth/cloud-platform"])
    except (DefaultCredentialsError, AttributeError, TypeError) as error:
        if not named:
            if not isinstance(error, DefaultCredentialsError):
                raise  # not a file of the user's: a fault to show as it is
            raise MissingPrerequisite(
                "no Google Cloud credentials found; run `gcloud auth application-default login` "
                f"(with access to project {project_id}), set GOOGLE_APPLICATION_CREDENTIALS, or run in Cloud Build"
            ) from None
        # The file is there, and google.auth says what is wrong with it (JSON that is no object, a
        # list or null, fails inside it as it reads the object's keys).
        reason = (
            error.args[0]
            if isinstance(error, DefaultCredentialsError) and error.args
            else f"File {named} holds no JSON object"
        )
        raise MissingPrerequisite(
            f"GOOGLE_APPLICATION_CREDENTIALS: {str(reason)[:300].rstrip('.')}; expected the file `gcloud auth "
            "application-default login` writes (or a service account's), or the variable unset"
        ) from None
    return credentials


def refused(error: Exception, where: str = "") -> int:
    """The one way a command-line main refuses to run: print why on stderr (a config problem per
    line, or each line of the error's own one-line-per-problem message after `where: ` when given),
    no traceback, and return the exit code of a usage error: 2."""
    # Credentials found but not usable (google.auth's errors); google.auth is imported only for an
    # error that could be one of them.
    if not isinstance(error, ConfigError | MissingPrerequisite) and isinstance(error, not_ready()):
        reason = str(error).strip().splitlines()[0][:300] if str(error).strip() else type(error).__name__
        error = MissingPrerequisite(
            f"the Google Cloud credentials could not be used ({reason}); run `gcloud auth application-default "
            "login` again, or check this machine's network"
        )
    lines = error.problems if isinstance(error, ConfigError) else (str(error).splitlines() or [type(error).__name__])
    if where and not isinstance(error, ConfigError):  # a config problem names its file instead
        lines = [f"{where}: {line}" for line in lines]
    print("\n".join(lines), file=sys.stderr)
    return 2
