"""`make deploy-dags ENV=`: put the daily cycle's DAG into the environment's Composer bucket.

Where Composer and the cycle are on, it asks Composer for the environment's DAG folder
(`config.dagGcsPrefix`, cloud.google.com/composer/docs/composer-3/manage-dags) and uploads there:
- `daily_cycle.py` (pipelines/dags/) and its settings `daily_cycle.json` (the environment's
  `cycle:` as the cycle's config, its cron and time zone);
- the code the DAG's tasks import: the `pipelines` package's plain modules and `environments`'
  Python modules (Composer puts the DAG folder on the workers' path).
Uploading the same commit again writes the same objects. Elsewhere it says the scheduler runs the
cycle and does nothing. The delivery pipeline runs it after apply (cloudbuild/deploy.yaml).
"""

from __future__ import annotations

import argparse
import json
import sys

from environments.credentials import google_credentials, not_ready, refused
from environments.loading import REPO_ROOT, ConfigError, load_environment
from environments.schema import Environment
from infra.deployed import composer_environment_id
from pipelines.logic.cycle import CycleConfig

DAG_FILE = REPO_ROOT / "pipelines" / "dags" / "daily_cycle.py"
SETTINGS_NAME = "daily_cycle.json"  # read by the DAG (pipelines/dags/daily_cycle.py SETTINGS_FILE)
CODE = ("pipelines/__init__.py", "pipelines/logic/*.py", "environments/*.py")
COMPOSER_API = "https://composer.googleapis.com/v1"
START_DATE = "2024-01-01"  # before any deployment; catchup is off, so no past day runs by itself


def dag_files(environment: Environment) -> dict[str, bytes]:
    """What goes into the DAG folder: relative path -> content."""
    cycle = environment.cycle
    settings = {
        "config": CycleConfig.for_environment(environment).to_dict(),
        "cron": cycle.cron,
        "time_zone": cycle.time_zone,
        "start_date": START_DATE,
    }
    files = {DAG_FILE.name: DAG_FILE.read_bytes(), SETTINGS_NAME: json.dumps(settings, indent=2).encode()}
    for pattern in CODE:
        for path in sorted(REPO_ROOT.glob(pattern)):
            files[str(path.relative_to(REPO_ROOT))] = path.read_bytes()
    return files


def dag_folder(environment: Environment, session, api: str = COMPOSER_API) -> str:
    """The environment's DAG folder, `gs://<bucket>/dags`, as Composer reports it."""
    name = (
        f"projects/{environment.project_id}/locations/{environment.region}/environments/"
        f"{composer_environment_id(environment.name)}"
    )
    response = session.get(f"{api}/{name}", timeout=60)
    if response.status_code != 200:
        raise DeployFailed(f"Composer environment {name}: HTTP {response.status_code}; is the stack applied?")
    prefix = response.json().get("config", {}).get("dagGcsPrefix", "")
    if not prefix.startswith("gs://"):
        raise DeployFailed(f"Composer environment {name} reports no DAG folder yet (is it still being created?)")
    return prefix.rstrip("/")


class DeployFailed(Exception):
    pass


def upload(files: dict[str, bytes], folder: str, storage_client) -> list[str]:
    bucket_name, _, prefix = folder.removeprefix("gs://").partition("/")
    bucket = storage_client.bucket(bucket_name)
    written = []
    for path, content in files.items():
        name = f"{prefix}/{path}" if prefix else path
        bucket.blob(name).upload_from_string(content)
        written.append(f"gs://{bucket_name}/{name}")
    return written


def deploy(environment: Environment, session, storage_client, api: str = COMPOSER_API) -> str:
    if not environment.composer.enabled or not environment.cycle.enabled:
        return (
            f"{environment.name}: Composer is off or the cycle is off; nothing to deploy "
            "(where the cycle is on, Cloud Scheduler runs it through the trigger)"
        )
    folder = dag_folder(environment, session, api)
    written = upload(dag_files(environment), folder, storage_client)
    return f"{environment.name}: {len(written)} files in {folder}/ (the daily_cycle DAG, its settings and code)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make deploy-dags", description=__doc__.splitlines()[0])
    parser.add_argument("--env", required=True, help="environment name (environments/<name>.yaml)")
    args = parser.parse_args(argv)
    try:
        environment = load_environment(args.env)
        if not environment.composer.enabled or not environment.cycle.enabled:
            print(deploy(environment, None, None))
            return 0
        credentials = google_credentials(environment.project_id)
    except (ConfigError, *not_ready()) as error:
        return refused(error, f"deploy-dags {args.env}")
    from google.auth.transport.requests import AuthorizedSession
    from google.cloud import storage

    try:
        print(deploy(environment, AuthorizedSession(credentials), storage.Client(project=environment.project_id)))
    except DeployFailed as error:
        print(f"deploy-dags {args.env}: {error}", file=sys.stderr)
        return 1
    except not_ready() as error:
        return refused(error, f"deploy-dags {args.env}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
