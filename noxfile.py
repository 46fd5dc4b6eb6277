"""Sessions of rime-airflow-demo; each one installs from the committed uv.lock.

nox -s tests        every offline test (unit and offline integration)
nox -s integration  tests against a real RIME cluster (needs credentials)
nox -s lint         ruff (with Airflow's AIR rules) and mypy on src
nox -s demo         the whole walkthrough through real Airflow, then a summary
nox -s airflow      Airflow UI on :8080 and MLflow UI on :7081, on loopback
nox -s benchmark    DAG import times and wall times of both DAGs
"""

from __future__ import annotations

import os

import nox

nox.options.default_venv_backend = "uv"
nox.options.sessions = ["tests", "lint"]
nox.options.reuse_existing_virtualenvs = True

PYTHON = "3.11"
CLUSTER_VARIABLES = ("RIME_API_KEY", "RIME_UPLOAD_URL")


def install_locked(session: nox.Session, *groups: str) -> None:
    """Install the project and the given dependency groups exactly as uv.lock pins them."""
    args = ["uv", "sync", "--frozen", "--no-default-groups"]
    for group in groups:
        args.append(f"--group={group}")
    session.run_install(
        *args, env={"UV_PROJECT_ENVIRONMENT": session.virtualenv.location}, silent=True
    )


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """Run every offline test: no credentials, no network beyond loopback."""
    install_locked(session, "test")
    env = {"RIME_API_KEY": "", "RIME_UPLOAD_URL": "", "NO_PROXY": "127.0.0.1,localhost"}
    session.run("pytest", *(session.posargs or ["tests"]), env=env)


@nox.session(python=PYTHON)
def integration(session: nox.Session) -> None:
    """Run the real-cluster tests when RIME_API_KEY and RIME_UPLOAD_URL are set; skip otherwise."""
    install_locked(session, "test")
    missing = [name for name in CLUSTER_VARIABLES if not os.environ.get(name)]
    if missing:
        session.warn(
            f"{', '.join(missing)} not set: the real-cluster tests are reported as skipped. "
            "Set RIME_API_KEY and RIME_UPLOAD_URL to run them against a RIME cluster."
        )
    # The fake-server variants of these tests already run in the tests session.
    session.run(
        "pytest",
        "-m",
        "cluster",
        "-k",
        "real-cluster",
        "-rs",
        "tests/integration",
        *session.posargs,
    )


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """Check style with ruff (AIR rules included) and types with mypy."""
    install_locked(session, "lint")
    session.run("ruff", "check", "src", "dags", "tests", "noxfile.py", "benchmarks")
    session.run("ruff", "format", "--check", "src", "dags", "tests", "noxfile.py", "benchmarks")
    session.run("mypy")


@nox.session(python=PYTHON)
def demo(session: nox.Session) -> None:
    """Run RIME_Stress_Testing, then every day of RIME_Firewall, and print a summary."""
    install_locked(session)
    session.run("python", "-m", "rime_airflow_demo.demo", *session.posargs)


@nox.session(python=PYTHON)
def airflow(session: nox.Session) -> None:
    """Start Airflow (port 8080) and an MLflow server (port 7081) on loopback; Ctrl-C stops both."""
    install_locked(session)
    # On Ctrl-C nox waits interrupt_timeout seconds before it terminates the
    # stack, which needs up to 35 s to stop both servers' process groups.
    session.run(
        "python",
        "-m",
        "rime_airflow_demo.stack",
        *session.posargs,
        interrupt_timeout=60.0,
        terminate_timeout=30.0,
    )


@nox.session(python=PYTHON)
def benchmark(session: nox.Session) -> None:
    """Print DAG import and run times, the daily firewall cost, and local-engine figures."""
    install_locked(session, "test")
    # Opt out of usage telemetry of MLflow and of any peer library the benchmarks load.
    env = {"DO_NOT_TRACK": "true", "MLFLOW_DISABLE_TELEMETRY": "true"}
    session.run("python", "benchmarks/dag_import.py", env=env)
    session.run("python", "benchmarks/firewall_day.py", env=env)
    session.run("python", "benchmarks/local_engine.py", *session.posargs, env=env)
