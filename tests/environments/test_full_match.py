"""Patterns match the whole value: `match` with `$` would accept a trailing newline."""

from __future__ import annotations

import pytest

from environments.loading import load_environment
from environments.messages import ConfigError
from tests.support.environments import minimal


@pytest.mark.parametrize(
    ("original", "replacement", "message"),
    [
        (
            "project_id: fixture-dev",
            'project_id: "fixture-dev\\n"',
            "project_id: 'fixture-dev\\n' is not valid",
        ),
        ("state_bucket: fixture-dev-tfstate", 'state_bucket: "fixture-dev-tfstate\\n"', "state_bucket: "),
    ],
)
def test_a_trailing_newline_is_refused(environments_dir, original, replacement, message):
    dev = minimal("dev")
    assert original in dev
    (environments_dir / "dev.yaml").write_text(dev.replace(original, replacement))
    with pytest.raises(ConfigError) as raised:
        load_environment("dev")
    assert raised.value.problems[0].startswith(f"environments/dev.yaml: {message}")
