"""The demo end to end: both DAGs through real Airflow on a small generated data set.

Runs ``python -m rime_airflow_demo.demo`` in a temporary ``RIME_DEMO_HOME``
with the local RIME engine and checks the output a user gets: progress lines, a
summary that names the chosen model, and every file inside the home folder.
A second run on the same home reuses the DAG runs and model versions.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

REPO_ROOT = Path(__file__).resolve().parents[2]
MODEL_TYPES = ("catboost-classifier", "sgd-classifier", "logistic-regression-classifier")
SMALL_DATA = {
    "RIME_DEMO_GEN_REFERENCE_ROWS": "3000",
    "RIME_DEMO_GEN_PRODUCTION_DAYS": "6",
    "RIME_DEMO_GEN_DRIFT_START_DAY": "4",
    "RIME_DEMO_GEN_ROWS_PER_DAY": "200",
}
RUN_TIMEOUT_S = 1200
CHOSEN = re.compile(r"Chosen model\n  (?P<model>\S+) \(registered version (?P<version>\d+)")


def demo_environment(home: Path) -> dict[str, str]:
    """Return an environment with the small data set, the local engine and no outside Airflow."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("AIRFLOW", "RIME_DEMO_")) and name != "MLFLOW_TRACKING_URI"
    }
    env.update(SMALL_DATA)
    env.update(
        {
            "RIME_DEMO_HOME": str(home),
            "RIME_DEMO_RIME_BACKEND": "local",
            "RIME_API_KEY": "",
            "RIME_UPLOAD_URL": "",
        }
    )
    return env


def run_demo(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "rime_airflow_demo.demo", *args],
        cwd=home.parent,
        env=demo_environment(home),
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
    )


@pytest.fixture(scope="module")
def first_run(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Path, subprocess.CompletedProcess[str]]:
    """One demo run in a new temporary home."""
    home = tmp_path_factory.mktemp("demo") / "home"
    return home, run_demo(home)


def test_demo_succeeds(first_run: tuple[Path, subprocess.CompletedProcess[str]]) -> None:
    """The demo exits 0."""
    _, result = first_run
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]


def test_demo_prints_task_progress(
    first_run: tuple[Path, subprocess.CompletedProcess[str]],
) -> None:
    """Every stress-testing task gets its own ``ok`` line."""
    _, result = first_run
    for task_id in (
        "create_rime_project",
        "train_model_0",
        "run_stress_test_2",
        "choose_best_model",
        "create_firewall",
    ):
        assert re.search(rf"^  ok +{task_id} ", result.stdout, re.MULTILINE), task_id


def test_demo_prints_one_line_per_day(
    first_run: tuple[Path, subprocess.CompletedProcess[str]],
) -> None:
    """Each of the six firewall days gets a progress line with its rows."""
    _, result = first_run
    for day in range(1, 7):
        assert re.search(rf"^  2024-03-0{day} +200 rows", result.stdout, re.MULTILINE), day


def test_demo_summary_names_chosen_model(
    first_run: tuple[Path, subprocess.CompletedProcess[str]],
) -> None:
    """The summary names one of the three model types as the chosen model, with a reason."""
    _, result = first_run
    match = CHOSEN.search(result.stdout)
    assert match is not None, result.stdout[-3000:]
    assert match["model"] in MODEL_TYPES
    assert "  why: " in result.stdout


def test_demo_summary_lists_models_and_bins(
    first_run: tuple[Path, subprocess.CompletedProcess[str]],
) -> None:
    """The summary shows every model's RIME counts and the firewall's bins."""
    _, result = first_run
    summary = result.stdout.split(" Summary ", 1)[-1]
    for model_type in MODEL_TYPES:
        assert model_type in summary
    assert "RIME stress tests: test counts" in summary
    assert "Firewall (continuous test) bins" in summary
    assert "Detection events:" in summary


def test_demo_keeps_output_out_of_terminal(
    first_run: tuple[Path, subprocess.CompletedProcess[str]],
) -> None:
    """Airflow's own log lines go to the log file, not to the terminal."""
    home, result = first_run
    assert "[DAG TEST]" not in result.stdout
    logs = list((home / "logs").glob("demo-*.log"))
    assert len(logs) == 1
    assert "[DAG TEST]" in logs[0].read_text()


def test_demo_writes_only_inside_home(
    first_run: tuple[Path, subprocess.CompletedProcess[str]],
) -> None:
    """Besides the home folder, the demo leaves nothing in its working directory."""
    home, _ = first_run
    assert sorted(path.name for path in home.parent.iterdir()) == ["home"]
    assert (home / "summary.txt").exists()


def test_demo_second_run_reuses_versions(
    first_run: tuple[Path, subprocess.CompletedProcess[str]],
) -> None:
    """A second run on the same home succeeds and promotes the same model version."""
    home, result = first_run
    again = run_demo(home)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    first_choice = CHOSEN.search(result.stdout)
    second_choice = CHOSEN.search(again.stdout)
    assert first_choice is not None
    assert second_choice is not None
    assert second_choice["version"] == first_choice["version"]


def test_demo_reports_failed_run(tmp_path: Path) -> None:
    """The firewall without an earlier stress test fails, naming the DAG, run, task and log."""
    home = tmp_path / "home"
    result = run_demo(home, "--firewall-only")
    assert result.returncode == 1
    assert "DAG RIME_Firewall run manual__2024-03-02" in result.stdout
    assert "get_rime_project_id: " in result.stdout
    assert "not found; run RIME_Stress_Testing first" in result.stdout
    assert str(home / "logs") in result.stdout
