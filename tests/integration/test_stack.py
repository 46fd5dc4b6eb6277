"""The local stack: Airflow standalone and an MLflow server on loopback, started and stopped.

Starts ``python -m rime_airflow_demo.stack`` on free loopback ports with a
temporary home, checks both DAGs through Airflow's REST API and that MLflow
responds, then sends SIGINT and checks that no process of the stack is left.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

pytestmark = pytest.mark.integration

REPO_ROOT = Path(__file__).resolve().parents[2]
LOOPBACK = "127.0.0.1"
READY_TIMEOUT_S = 300.0
STOP_TIMEOUT_S = 90.0
LOGIN_LINE = re.compile(r"Airflow login: user '(?P<user>[^']+)', password '(?P<password>[^']+)'")


def free_port() -> int:
    """Return a loopback port that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def loopback_session() -> requests.Session:
    """Return a session that never routes through a proxy."""
    session = requests.Session()
    session.trust_env = False
    return session


def descendants(pid: int) -> set[int]:
    """Return the pids of every live descendant of ``pid``, read from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] not in ("Z", "X"):
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    found: set[int] = set()
    pending = [pid]
    while pending:
        for child in children.get(pending.pop(), []):
            if child not in found:
                found.add(child)
                pending.append(child)
    return found


def alive(pid: int) -> bool:
    """Return True when ``pid`` exists and is not a zombie."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


@dataclass
class RunningStack:
    """A started stack process, its ports and the login it printed."""

    process: subprocess.Popen[str]
    airflow_url: str
    mlflow_url: str
    user: str
    password: str
    output: list[str]


def collect_output(process: subprocess.Popen[str], lines: list[str]) -> threading.Thread:
    """Start a thread that appends every output line of ``process`` to ``lines``."""
    assert process.stdout is not None
    stdout = process.stdout

    def read() -> None:
        for line in stdout:
            lines.append(line.rstrip())

    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    return thread


def wait_for_login(process: subprocess.Popen[str], lines: list[str]) -> tuple[str, str]:
    """Wait for the printed login line; fail with the output when the stack exits or times out."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        for line in list(lines):
            match = LOGIN_LINE.search(line)
            if match:
                return match["user"], match["password"]
        if process.poll() is not None:
            pytest.fail("stack exited before it was ready:\n" + "\n".join(lines))
        time.sleep(0.5)
    pytest.fail(f"stack not ready within {READY_TIMEOUT_S:.0f} s:\n" + "\n".join(lines))


def stop_stack(process: subprocess.Popen[str]) -> None:
    """Send SIGINT as Ctrl-C would and wait; kill the stack only if it hangs."""
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    """Start the stack on free loopback ports in a temporary home and stop it afterwards."""
    home = tmp_path_factory.mktemp("stack_home")
    airflow_port, mlflow_port = free_port(), free_port()
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("AIRFLOW") and name != "MLFLOW_TRACKING_URI"
    }
    env.update(
        {
            "RIME_DEMO_HOME": str(home),
            "RIME_API_KEY": "",
            "RIME_UPLOAD_URL": "",
            "NO_PROXY": "127.0.0.1,localhost",
        }
    )
    command = [
        sys.executable,
        "-m",
        "rime_airflow_demo.stack",
        "--airflow-port",
        str(airflow_port),
        "--mlflow-port",
        str(mlflow_port),
        "--ready-timeout",
        str(READY_TIMEOUT_S),
    ]
    process = subprocess.Popen(
        command,
        cwd=REPO_ROOT,
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    lines: list[str] = []
    reader = collect_output(process, lines)
    try:
        user, password = wait_for_login(process, lines)
        yield RunningStack(
            process,
            f"http://{LOOPBACK}:{airflow_port}",
            f"http://{LOOPBACK}:{mlflow_port}",
            user,
            password,
            lines,
        )
    finally:
        stop_stack(process)
        reader.join(timeout=10)
        assert process.stdout is not None
        process.stdout.close()


def airflow_token(stack: RunningStack) -> str:
    """Return a JWT for the printed login from the simple auth manager's token endpoint."""
    with loopback_session() as session:
        response = session.post(
            f"{stack.airflow_url}/auth/token",
            json={"username": stack.user, "password": stack.password},
            timeout=30,
        )
    assert response.status_code == 201, response.text
    token: str = response.json()["access_token"]
    return token


def get_json(url: str, token: str) -> dict:
    with loopback_session() as session:
        response = session.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=30)
    assert response.status_code == 200, f"{url}: {response.status_code} {response.text}"
    data: dict = response.json()
    return data


def listed_dag_ids(stack: RunningStack, token: str) -> set[str]:
    """Return the DAG ids the API lists, waiting (bounded) for the DAG processor's first parse."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    dag_ids: set[str] = set()
    while time.monotonic() < deadline:
        dags = get_json(f"{stack.airflow_url}/api/v2/dags", token)["dags"]
        dag_ids = {dag["dag_id"] for dag in dags}
        if {"RIME_Stress_Testing", "RIME_Firewall"} <= dag_ids:
            break
        time.sleep(3)
    return dag_ids


def test_stack_prints_loopback_urls(stack: RunningStack) -> None:
    """The banner shows both UIs on the loopback address and the requested ports."""
    output = "\n".join(stack.output)
    assert f"Airflow UI:  {stack.airflow_url}" in output
    assert f"MLflow UI:   {stack.mlflow_url}" in output


def test_stack_lists_both_dags(stack: RunningStack) -> None:
    """Airflow's REST API, logged in with the printed password, lists both walkthrough DAGs."""
    dag_ids = listed_dag_ids(stack, airflow_token(stack))
    assert "RIME_Stress_Testing" in dag_ids
    assert "RIME_Firewall" in dag_ids


def test_stack_has_no_import_errors(stack: RunningStack) -> None:
    """No DAG file of the repository fails to import in the running Airflow."""
    token = airflow_token(stack)
    listed_dag_ids(stack, token)
    errors = get_json(f"{stack.airflow_url}/api/v2/importErrors", token)
    assert errors["total_entries"] == 0, errors["import_errors"]


def test_stack_rejects_wrong_password(stack: RunningStack) -> None:
    """The token endpoint rejects a login with a wrong password."""
    with loopback_session() as session:
        response = session.post(
            f"{stack.airflow_url}/auth/token",
            json={"username": stack.user, "password": stack.password + "-wrong"},
            timeout=30,
        )
    assert response.status_code == 401


def test_stack_mlflow_responds(stack: RunningStack) -> None:
    """The MLflow server responds to its health check and the experiments search API."""
    with loopback_session() as session:
        health = session.get(f"{stack.mlflow_url}/health", timeout=30)
        search = session.post(
            f"{stack.mlflow_url}/api/2.0/mlflow/experiments/search",
            json={"max_results": 10},
            timeout=30,
        )
    assert health.status_code == 200
    assert search.status_code == 200, search.text


def test_stack_stops_every_process(stack: RunningStack) -> None:
    """SIGINT stops the stack with exit code 0 and leaves none of its processes running."""
    children = descendants(stack.process.pid)
    assert children, "the stack started no server processes"
    stop_stack(stack.process)
    deadline = time.monotonic() + 30
    left = {pid for pid in children if alive(pid)}
    while left and time.monotonic() < deadline:
        time.sleep(1)
        left = {pid for pid in left if alive(pid)}
    assert stack.process.returncode == 0
    assert left == set()


def test_stack_rejects_busy_port(tmp_path: Path) -> None:
    """A port that is already in use stops the start with a message naming the port and flag."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as busy:
        busy.bind((LOOPBACK, 0))
        busy.listen()
        port = busy.getsockname()[1]
        env = {name: value for name, value in os.environ.items() if not name.startswith("AIRFLOW")}
        env["RIME_DEMO_HOME"] = str(tmp_path)
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "rime_airflow_demo.stack",
                "--airflow-port",
                str(port),
                "--mlflow-port",
                str(free_port()),
            ],
            cwd=REPO_ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert result.returncode == 1
    assert f"Port {port} on 127.0.0.1 is in use" in result.stderr
    assert "--airflow-port" in result.stderr
