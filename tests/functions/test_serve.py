"""`make serve`: loopback unless HOST says otherwise, and it prints the address it really binds."""

from __future__ import annotations

import sys

import pytest

from functions import serve


class Exec(Exception):
    pass


CHECK_BINDABLE = serve.check_bindable


@pytest.fixture
def execs(monkeypatch) -> list[list[str]]:
    """The command serve would replace itself with; the address is not probed (the machine's port
    8080 or IPv6 loopback are not this test's subject: a port in use has its own test)."""
    commands = []
    monkeypatch.setattr(serve, "check_bindable", lambda host, port: None)

    def execve(path, argv, env):
        commands.append(argv)
        raise Exec

    monkeypatch.setattr(serve.os, "execve", execve)
    return commands


@pytest.mark.parametrize(
    ("arguments", "host", "printed"),
    [
        ([], "127.0.0.1", "serving predict on http://127.0.0.1:8080 (this machine only; dev settings)"),
        (
            ["--host", "0.0.0.0"],  # noqa: S104 - asked for explicitly
            "0.0.0.0",  # noqa: S104
            "serving predict on http://0.0.0.0:8080 (other machines too; dev settings)",
        ),
        (["--host", "::1"], "::1", "serving predict on http://[::1]:8080 (this machine only; dev settings)"),
    ],
)
def test_binds_loopback_unless_told_and_prints_what_it_binds(execs, capsys, arguments, host, printed):
    with pytest.raises(Exec):
        serve.main(["--function", "predict", *arguments])
    assert capsys.readouterr().out == printed + "\n"
    command = execs[0]
    assert command[:3] == [sys.executable, "-m", "functions_framework"]
    assert command[command.index("--host") + 1] == host and command[command.index("--port") + 1] == "8080"


def test_bad_host_or_port_exit_2_before_serving(execs, capsys):
    assert serve.main(["--function", "predict", "--port", "0"]) == 2
    assert capsys.readouterr().err == "PORT: '0' is not a port; expected a number from 1 to 65535\n"
    assert serve.main(["--function", "predict", "--host", "localhost"]) == 2
    assert capsys.readouterr().err == (
        "HOST: 'localhost' is not an IP address; expected 127.0.0.1 (this machine only, the default) "
        "or e.g. 0.0.0.0 (every interface)\n"
    )
    assert execs == []


def test_a_port_in_use_is_refused_in_one_line_before_serving(execs, capsys, monkeypatch):
    """Not 'serving ...' followed by five seconds of gunicorn's retries."""
    import socket

    monkeypatch.setattr(serve, "check_bindable", CHECK_BINDABLE)

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert serve.main(["--function", "predict", "--port", str(port)]) == 2
    assert capsys.readouterr() == (
        "",
        f"PORT: {port} on 127.0.0.1 cannot be bound (Address already in use); expected a free port, e.g. "
        f"PORT={port + 1}\n",
    )
    assert execs == []
    assert serve.main(["--function", "predict", "--host", "192.0.2.1"]) == 2  # TEST-NET-1: nobody's address
    assert capsys.readouterr().err == (
        "HOST: 192.0.2.1 is not an address of this machine; expected 127.0.0.1 (this machine only, the default), "
        "0.0.0.0 (every interface) or one of its own addresses\n"
    )


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        (
            "DATA_SPEC",
            '{"target_column": "sales"',
            "DATA_SPEC: not JSON (Expecting ',' delimiter: line 1 column 26 (char 25)); expected a JSON object such "
            'as {"target_column": "sales", "frequency": "1h"}',
        ),
        (
            "DATA_SPEC",
            '{"target_colum": "sales"}',
            "DATA_SPEC: target_colum: unknown key 'target_colum'; expected one of timestamp_column, target_column, "
            "exogenous_columns, frequency, target_min, target_max",
        ),
        (
            "DATA_SPEC",
            '{"frequency": "hourly"}',
            'DATA_SPEC: frequency: "hourly" is not a frequency that divides a day; expected e.g. 30min, 1h',
        ),
        (
            "CHAMPION_CHECK_SECONDS",
            "soon",
            "CHAMPION_CHECK_SECONDS: 'soon'; expected a number of seconds from 0 to 3600",
        ),
        (
            "REGISTRY_URI",
            "vertex://bad",
            "REGISTRY_URI: 'vertex://bad' is not vertex://<project>/<region>/<model>; expected a registry folder or "
            "vertex://<project>/<region>/<model>",
        ),
        (
            "REGISTRY_URI",
            "gs://bucket/models",
            "REGISTRY_URI: 'gs://bucket/models' is neither a folder nor vertex://; expected a registry folder or "
            "vertex://<project>/<region>/<model>",
        ),
        (
            "REGISTRY_URI",
            "build/registry/models/forecaster-typo",
            "REGISTRY_URI: 'build/registry/models/forecaster-typo' is no folder; expected the folder a training run "
            "registered its model in (under build/registry/models/ for a model of its own), or "
            "vertex://<project>/<region>/<model>",
        ),
        (
            "REGISTRY_URI",
            "README.md",
            "REGISTRY_URI: 'README.md' is a file; expected a registry folder or vertex://<project>/<region>/<model>",
        ),
    ],
)
def test_a_setting_the_function_cannot_read_is_refused_before_serving(
    execs, capsys, monkeypatch, variable, value, message
):
    """Else every request would get functions-framework's bare 500."""
    monkeypatch.setenv(variable, value)
    assert serve.main(["--function", "predict"]) == 2
    assert capsys.readouterr().err == message + "\n"
    assert execs == []


def test_the_local_trigger_knows_the_environments_teams(environments_dir):
    """A team's run served locally (`make serve FUNCTION=pipeline_trigger`) uses the team's account."""
    import json

    from tests.support.environments import write_environments

    write_environments(environments_dir, ["teams", "everything"])
    variables = serve.local_environment("pipeline_trigger", "teams")
    assert json.loads(variables["TEAM_SERVICE_ACCOUNTS"]) == {
        "forecasting": "team-forecasting@fixture-teams.iam.gserviceaccount.com"
    }


def test_a_trigger_setting_it_cannot_read_is_refused_before_serving(execs, capsys, monkeypatch):
    monkeypatch.setenv("TEAM_SERVICE_ACCOUNTS", '["team-a"]')
    assert serve.main(["--function", "pipeline_trigger"]) == 2
    assert capsys.readouterr().err == 'TEAM_SERVICE_ACCOUNTS: not a JSON object; expected e.g. {"name": "value"}\n'
    assert execs == []
