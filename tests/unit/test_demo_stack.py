"""The stack's pure pieces: environment, MLflow command, password file, ports, process groups."""

from __future__ import annotations

import os
import socket
import sys
import time
from pathlib import Path

import pytest

from rime_airflow_demo import stack
from rime_airflow_demo.settings import Settings
from rime_airflow_demo.stack import StackConfig


def config_for(home: Path) -> StackConfig:
    return StackConfig(home=home, airflow_port=18080, mlflow_port=17081)


class TestStackEnvironment:
    """``stack_environment`` binds Airflow to loopback and points tasks at the MLflow server."""

    def environment(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
        for name in list(os.environ):
            if name.startswith("AIRFLOW"):
                monkeypatch.delenv(name)
        return stack.stack_environment(Settings(home=tmp_path), config_for(tmp_path))

    def test_api_on_loopback(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """The API server listens on 127.0.0.1 at the configured port."""
        env = self.environment(tmp_path, monkeypatch)
        assert env["AIRFLOW__API__HOST"] == "127.0.0.1"
        assert env["AIRFLOW__API__PORT"] == "18080"
        assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://127.0.0.1:18080/execution/"

    def test_tasks_log_to_server(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """Tasks get the MLflow server's URL and the demo home."""
        env = self.environment(tmp_path, monkeypatch)
        assert env["MLFLOW_TRACKING_URI"] == "http://127.0.0.1:17081"
        assert env["RIME_DEMO_HOME"] == str(tmp_path)

    def test_airflow_home_under_demo_home(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Without AIRFLOW_HOME set, Airflow lives in ``<home>/airflow``."""
        env = self.environment(tmp_path, monkeypatch)
        assert env["AIRFLOW_HOME"] == str(tmp_path / "airflow")

    def test_interpreter_bin_on_path(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """The interpreter's bin folder comes first on PATH, for the ``airflow`` script."""
        env = self.environment(tmp_path, monkeypatch)
        assert env["PATH"].split(os.pathsep)[0] == str(Path(sys.executable).parent)


class TestMlflowCommand:
    """``mlflow_command`` serves the demo's store on loopback."""

    def test_binds_loopback(self, tmp_path: Path) -> None:
        """The server binds 127.0.0.1 and the configured port."""
        command = stack.mlflow_command(Settings(home=tmp_path), config_for(tmp_path))
        assert command[command.index("--host") + 1] == "127.0.0.1"
        assert command[command.index("--port") + 1] == "17081"

    def test_serves_demo_store(self, tmp_path: Path) -> None:
        """A SQLite tracking URI is served as the backend store."""
        settings = Settings(home=tmp_path, mlflow_tracking_uri="sqlite:////data/demo.db")
        command = stack.mlflow_command(settings, config_for(tmp_path))
        assert command[command.index("--backend-store-uri") + 1] == "sqlite:////data/demo.db"

    def test_server_uri_replaced_by_home_store(self, tmp_path: Path) -> None:
        """A server URI cannot be served again, so the home's SQLite store is used."""
        settings = Settings(home=tmp_path, mlflow_tracking_uri="http://127.0.0.1:7081")
        store = stack.mlflow_backend_store(settings, config_for(tmp_path))
        assert store == f"sqlite:///{tmp_path / 'mlflow.db'}"


class TestReadPasswords:
    """``read_passwords`` reads the simple auth manager's generated file."""

    def test_reads_users(self, tmp_path: Path) -> None:
        """The JSON file maps users to passwords."""
        (tmp_path / stack.PASSWORDS_FILE).write_text('{"admin": "s3cret"}\n')
        assert stack.read_passwords(tmp_path) == {"admin": "s3cret"}

    def test_missing_file_is_empty(self, tmp_path: Path) -> None:
        """No file yet gives no users."""
        assert stack.read_passwords(tmp_path) == {}

    def test_partial_file_is_empty(self, tmp_path: Path) -> None:
        """A half-written file gives no users, so the caller reads again."""
        (tmp_path / stack.PASSWORDS_FILE).write_text('{"admin": "s3')
        assert stack.read_passwords(tmp_path) == {}


class TestPortArgument:
    """``port_argument`` reads a port from the environment."""

    def test_default_when_unset(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """An unset variable gives the default."""
        monkeypatch.delenv("RIME_DEMO_AIRFLOW_PORT", raising=False)
        assert stack.port_argument("RIME_DEMO_AIRFLOW_PORT", 8080) == 8080

    def test_value_from_environment(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """A valid number is used."""
        monkeypatch.setenv("RIME_DEMO_AIRFLOW_PORT", "8181")
        assert stack.port_argument("RIME_DEMO_AIRFLOW_PORT", 8080) == 8181

    @pytest.mark.parametrize("raw", ["http", "0", "70000", "-1"])
    def test_invalid_port_rejected(self, monkeypatch: pytest.MonkeyPatch, raw: str) -> None:
        """A value that is not a TCP port stops with the variable's name."""
        monkeypatch.setenv("RIME_DEMO_AIRFLOW_PORT", raw)
        with pytest.raises(SystemExit, match="RIME_DEMO_AIRFLOW_PORT"):
            stack.port_argument("RIME_DEMO_AIRFLOW_PORT", 8080)


def test_port_in_use_detects_listener() -> None:
    """A listening loopback socket is reported as in use, a closed port is not."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        assert stack.port_in_use(port)
    assert not stack.port_in_use(port)


def test_managed_process_group_stops(tmp_path: Path) -> None:
    """A started group with a child process is empty after ``Stack.stop``."""
    script = (
        "import subprocess, sys, time\n"
        "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
        "time.sleep(60)\n"
    )
    managed = stack.ManagedProcess(
        "sleeper", [sys.executable, "-c", script], dict(os.environ), tmp_path / "sleeper.log"
    )
    group = stack.Stack(Settings(home=tmp_path), config_for(tmp_path))
    group.processes.append(managed)
    for _ in range(100):
        if len(managed.group_members()) >= 2:
            break
        time.sleep(0.1)
    assert len(managed.group_members()) == 2
    group.stop()
    assert managed.group_members() == []
    assert managed.process.returncode is not None
