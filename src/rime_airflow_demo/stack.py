"""Start Airflow and an MLflow tracking server on loopback; Ctrl-C stops both.

    python -m rime_airflow_demo.stack [--airflow-port 8080] [--mlflow-port 7081]

Airflow runs as ``airflow standalone`` (API server and web UI, scheduler, DAG
processor, triggerer) with the repository's ``dags/`` folder, and its tasks
log to the MLflow server started next to it. Both use the state under
``RIME_DEMO_HOME`` (default ``./.demo``): the same Airflow metadata database
and MLflow store as ``nox -s demo``, so the demo's runs show up in both UIs.

Each server runs in its own process group. SIGINT or SIGTERM to this process
sends SIGTERM to both groups, waits, then escalates to SIGKILL, and returns
only when no process of either group is left.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from rime_airflow_demo.airflow_runner import airflow_environment
from rime_airflow_demo.settings import Settings

log = logging.getLogger(__name__)

LOOPBACK = "127.0.0.1"
DEFAULT_AIRFLOW_PORT = 8080
DEFAULT_MLFLOW_PORT = 7081
AIRFLOW_PORT_ENV = "RIME_DEMO_AIRFLOW_PORT"
MLFLOW_PORT_ENV = "RIME_DEMO_MLFLOW_PORT"
PASSWORDS_FILE = "simple_auth_manager_passwords.json.generated"

# Seconds each stop step waits for a process group to exit before escalating.
# SIGTERM comes first because Airflow 3.3.2's scheduler and DAG processor exit
# on it within seconds, while after a group-wide SIGINT they were still running
# 30 s later when this was tried.
STOP_GRACE_S = {signal.SIGTERM: 30.0, signal.SIGKILL: 5.0}
POLL_INTERVAL_S = 0.5


class StackError(RuntimeError):
    """The stack could not start; the message names the server and its log file."""


@dataclass(frozen=True)
class StackConfig:
    """State folder and loopback ports of the stack."""

    home: Path
    airflow_port: int = DEFAULT_AIRFLOW_PORT
    mlflow_port: int = DEFAULT_MLFLOW_PORT

    @property
    def airflow_url(self) -> str:
        return f"http://{LOOPBACK}:{self.airflow_port}"

    @property
    def mlflow_url(self) -> str:
        return f"http://{LOOPBACK}:{self.mlflow_port}"

    @property
    def log_dir(self) -> Path:
        return self.home / "logs"


class ManagedProcess:
    """A server started as the leader of a new process group, with its log file."""

    def __init__(self, name: str, command: list[str], env: dict[str, str], log_path: Path) -> None:
        self.name = name
        self.log_path = log_path
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with log_path.open("ab") as log_file:
            self.process = subprocess.Popen(
                command,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        # With start_new_session the leader's pid is the group id.
        self.pgid = self.process.pid
        log.info("Started %s (pid %d), log: %s", name, self.pgid, log_path)

    def running(self) -> bool:
        """Return True while the group leader has not exited."""
        return self.process.poll() is None

    def group_members(self) -> list[int]:
        """Return the pids of live (non-zombie) processes in this process group."""
        return live_group_members(self.pgid)

    def signal_group(self, sig: signal.Signals) -> None:
        """Send ``sig`` to every process of the group; a group that is gone is skipped."""
        try:
            os.killpg(self.pgid, sig)
        except ProcessLookupError:
            return
        log.info("Sent %s to %s (process group %d)", sig.name, self.name, self.pgid)


def live_group_members(pgid: int) -> list[int]:
    """Return the pids of live processes whose process group is ``pgid``, read from /proc."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # Fields after the parenthesised command name: state, ppid, pgrp, ...
        fields = stat.rsplit(")", 1)[1].split()
        state, group = fields[0], int(fields[2])
        if group == pgid and state not in ("Z", "X"):
            members.append(int(entry.name))
    return members


def port_in_use(port: int) -> bool:
    """Return True when something already listens on ``port`` of the loopback address."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(1.0)
        return sock.connect_ex((LOOPBACK, port)) == 0


def mlflow_backend_store(settings: Settings, config: StackConfig) -> str:
    """Return the MLflow database the server serves: the demo's store unless that is a server."""
    uri = settings.mlflow_tracking_uri
    if uri.startswith(("http://", "https://")):
        return f"sqlite:///{config.home / 'mlflow.db'}"
    return uri


def mlflow_command(settings: Settings, config: StackConfig) -> list[str]:
    """Return the command line of the MLflow tracking server with proxied artifacts."""
    return [
        sys.executable,
        "-m",
        "mlflow",
        "server",
        "--host",
        LOOPBACK,
        "--port",
        str(config.mlflow_port),
        "--backend-store-uri",
        mlflow_backend_store(settings, config),
        "--artifacts-destination",
        str(config.home / "mlartifacts"),
        "--workers",
        "1",
    ]


def mlflow_environment() -> dict[str, str]:
    """Return the MLflow server's environment, without the GenAI job runner the demo never uses."""
    env = {name: value for name, value in os.environ.items() if name != "MLFLOW_TRACKING_URI"}
    env.setdefault("MLFLOW_SERVER_ENABLE_JOB_EXECUTION", "false")
    return env


def stack_environment(settings: Settings, config: StackConfig) -> dict[str, str]:
    """Return the environment of ``airflow standalone``: loopback API, demo home, MLflow server."""
    env = dict(os.environ)
    env.update(airflow_environment(settings))
    # standalone starts its components as the ``airflow`` script, so the
    # interpreter's bin folder must be on PATH even when no venv is activated.
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    # The LocalExecutor starts one worker process per slot up front, and
    # Airflow's default of 32 slots is far more than the three parallel
    # stress-test branches need.
    env.setdefault("AIRFLOW__CORE__PARALLELISM", "4")
    env.update(
        {
            "RIME_DEMO_HOME": str(config.home),
            "MLFLOW_TRACKING_URI": config.mlflow_url,
            "AIRFLOW__API__HOST": LOOPBACK,
            "AIRFLOW__API__PORT": str(config.airflow_port),
            "AIRFLOW__API__BASE_URL": config.airflow_url,
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{config.airflow_url}/execution/",
        }
    )
    return env


def read_passwords(airflow_home: Path) -> dict[str, str]:
    """Return user -> password from the file the simple auth manager generates in AIRFLOW_HOME."""
    path = airflow_home / PASSWORDS_FILE
    try:
        content = path.read_text().strip()
    except FileNotFoundError:
        return {}
    if not content:
        return {}
    try:
        passwords: dict[str, str] = json.loads(content)
    except ValueError:
        # The auth manager may be writing the file right now; the caller reads again.
        return {}
    return passwords


def http_ok(url: str) -> bool:
    """Return True when a GET of ``url`` returns status 200 within two seconds."""
    import requests

    session = requests.Session()
    session.trust_env = False  # loopback only: never route through a proxy
    try:
        return session.get(url, timeout=2.0).status_code == 200
    except requests.RequestException:
        return False
    finally:
        session.close()


def log_tail(path: Path, lines: int = 20) -> str:
    """Return the last ``lines`` lines of a log file, or an empty string when it is missing."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return ""


class Stack:
    """Airflow standalone and an MLflow server, started and stopped together."""

    def __init__(self, settings: Settings, config: StackConfig) -> None:
        self.settings = settings
        self.config = config
        self.airflow_env = stack_environment(settings, config)
        self.airflow_home = Path(self.airflow_env["AIRFLOW_HOME"])
        self.processes: list[ManagedProcess] = []

    def start(self) -> None:
        """Start MLflow, then Airflow; raise ``StackError`` if a port is taken."""
        for name, port, flag in (
            ("Airflow", self.config.airflow_port, "--airflow-port"),
            ("MLflow", self.config.mlflow_port, "--mlflow-port"),
        ):
            if port_in_use(port):
                raise StackError(
                    f"Port {port} on {LOOPBACK} is in use, so {name} cannot start; stop the "
                    f"process that listens there or pick another port with {flag}."
                )
        self.airflow_home.mkdir(parents=True, exist_ok=True)
        self.processes.append(
            ManagedProcess(
                "MLflow server",
                mlflow_command(self.settings, self.config),
                mlflow_environment(),
                self.config.log_dir / "mlflow-server.log",
            )
        )
        self.processes.append(
            ManagedProcess(
                "Airflow standalone",
                [sys.executable, "-m", "airflow", "standalone"],
                self.airflow_env,
                self.config.log_dir / "airflow-standalone.log",
            )
        )

    def wait_ready(self, timeout_s: float, stop: threading.Event) -> bool:
        """Wait until both servers respond; return False if ``stop`` is set first.

        Raises ``StackError`` when a server exits or ``timeout_s`` passes.
        """
        checks: list[tuple[str, Callable[[], bool]]] = [
            ("MLflow", lambda: http_ok(f"{self.config.mlflow_url}/health")),
            ("Airflow", lambda: http_ok(f"{self.config.airflow_url}/api/v2/monitor/health")),
        ]
        deadline = time.monotonic() + timeout_s
        pending = list(checks)
        while pending:
            if stop.is_set():
                return False
            self.raise_if_exited()
            pending = [(name, check) for name, check in pending if not check()]
            if pending and time.monotonic() > deadline:
                names = ", ".join(name for name, _ in pending)
                raise StackError(
                    f"{names} did not respond within {timeout_s:.0f} s; see the logs in "
                    f"{self.config.log_dir}."
                )
            if pending:
                stop.wait(POLL_INTERVAL_S * 4)
        return True

    def raise_if_exited(self) -> None:
        """Raise ``StackError`` naming the first server whose process has exited."""
        for managed in self.processes:
            code = managed.process.poll()
            if code is not None:
                raise StackError(
                    f"{managed.name} exited with code {code}; its log is {managed.log_path}. "
                    f"Last lines:\n{log_tail(managed.log_path)}"
                )

    def credentials(self) -> dict[str, str]:
        """Return the Airflow users and passwords, waiting briefly for the generated file."""
        deadline = time.monotonic() + 30.0
        passwords = read_passwords(self.airflow_home)
        while not passwords and time.monotonic() < deadline:
            time.sleep(POLL_INTERVAL_S)
            passwords = read_passwords(self.airflow_home)
        return passwords

    def stop(self) -> None:
        """Stop both process groups: SIGTERM, then SIGKILL, until none is left."""
        remaining = [managed for managed in self.processes if managed.group_members()]
        for sig, grace_s in STOP_GRACE_S.items():
            if not remaining:
                break
            for managed in remaining:
                managed.signal_group(sig)
            remaining = wait_for_groups(remaining, grace_s)
        for managed in self.processes:
            if managed.process.poll() is None:
                managed.process.wait(timeout=5.0)
        if remaining:
            names = ", ".join(f"{m.name} {m.group_members()}" for m in remaining)
            log.error("Processes still alive after SIGKILL: %s", names)
        else:
            log.info("Airflow and MLflow stopped")


def wait_for_groups(groups: Iterable[ManagedProcess], timeout_s: float) -> list[ManagedProcess]:
    """Wait until the groups are empty or ``timeout_s`` passes; return the non-empty ones."""
    deadline = time.monotonic() + timeout_s
    remaining = list(groups)
    while remaining and time.monotonic() < deadline:
        for managed in remaining:
            managed.process.poll()  # reap the leader so it stops counting as alive
        remaining = [managed for managed in remaining if managed.group_members()]
        if remaining:
            time.sleep(POLL_INTERVAL_S)
    return remaining


def print_banner(config: StackConfig, passwords: dict[str, str], dags_folder: str) -> None:
    """Print where the UIs are, the Airflow login and the log files."""
    print(f"Airflow UI:  {config.airflow_url}  (DAGs from {dags_folder})", flush=True)
    if passwords:
        for user, password in passwords.items():
            print(f"Airflow login: user {user!r}, password {password!r}", flush=True)
    else:
        print(
            "Airflow login: no generated password file found; check "
            "[core] simple_auth_manager_users in your Airflow configuration.",
            flush=True,
        )
    print(f"MLflow UI:   {config.mlflow_url}", flush=True)
    print(f"Logs:        {config.log_dir}", flush=True)
    print(
        "New DAGs start paused: unpause them in the UI to let the scheduler run them.", flush=True
    )
    print("Press Ctrl-C to stop both servers.", flush=True)


def port_argument(env_name: str, default: int) -> int:
    """Return the port from ``env_name`` or ``default``; raise ``SystemExit`` for a bad value."""
    raw = os.environ.get(env_name, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or not 0 < int(raw) < 65536:
        raise SystemExit(f"{env_name}={raw!r} is not a TCP port; use a number from 1 to 65535.")
    return int(raw)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--airflow-port",
        type=int,
        default=port_argument(AIRFLOW_PORT_ENV, DEFAULT_AIRFLOW_PORT),
        help=f"port of the Airflow API server and UI on {LOOPBACK} "
        f"(default ${AIRFLOW_PORT_ENV} or {DEFAULT_AIRFLOW_PORT})",
    )
    parser.add_argument(
        "--mlflow-port",
        type=int,
        default=port_argument(MLFLOW_PORT_ENV, DEFAULT_MLFLOW_PORT),
        help=f"port of the MLflow tracking server on {LOOPBACK} "
        f"(default ${MLFLOW_PORT_ENV} or {DEFAULT_MLFLOW_PORT})",
    )
    parser.add_argument(
        "--ready-timeout",
        type=float,
        default=300.0,
        help="seconds to wait for both servers to answer before giving up (default 300)",
    )
    return parser.parse_args(argv)


def install_stop_handlers(stop: threading.Event) -> None:
    """Make SIGINT and SIGTERM set ``stop`` instead of interrupting the wait loops."""

    def handle(signum: int, _frame: FrameType | None) -> None:
        log.info("Received %s; stopping Airflow and MLflow", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGINT, handle)
    signal.signal(signal.SIGTERM, handle)


def main(argv: list[str] | None = None) -> int:
    """Start the stack and wait for a stop signal; return 0, or 1 when a server failed."""
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    settings = Settings.from_env()
    config = StackConfig(settings.home, args.airflow_port, args.mlflow_port)
    stop = threading.Event()
    install_stop_handlers(stop)
    stack = Stack(settings, config)
    try:
        stack.start()
        if not stack.wait_ready(args.ready_timeout, stop):
            return 0
        print_banner(config, stack.credentials(), stack.airflow_env["AIRFLOW__CORE__DAGS_FOLDER"])
        while not stop.wait(POLL_INTERVAL_S * 2):
            stack.raise_if_exited()
    except StackError as exc:
        log.error("%s", exc)
        return 1
    finally:
        stack.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
