"""Patterns match the whole value: `match` with `$` would accept a trailing newline."""

from __future__ import annotations

import pytest

from environments.loading import REPO_ROOT, load_environment
from environments.messages import ConfigError


@pytest.mark.parametrize(
    ("original", "replacement", "message"),
    [
        (
            "project_id: acme-mlops-dev",
            'project_id: "acme-mlops-dev\\n"',
            "project_id: 'acme-mlops-dev\\n' is not valid",
        ),
        ("state_bucket: acme-mlops-dev-tfstate", 'state_bucket: "acme-mlops-dev-tfstate\\n"', "state_bucket: "),
    ],
)
def test_a_trailing_newline_is_refused(environments_dir, original, replacement, message):
    dev = (REPO_ROOT / "environments" / "dev.yaml").read_text()
    assert original in dev
    (environments_dir / "dev.yaml").write_text(dev.replace(original, replacement))
    with pytest.raises(ConfigError) as raised:
        load_environment("dev")
    assert raised.value.problems[0].startswith(f"environments/dev.yaml: {message}")
