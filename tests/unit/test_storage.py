"""Run paths under the storage root are stable per DAG run and safe as file names."""

from __future__ import annotations

from pathlib import Path

import pytest

from rime_airflow_demo.storage import run_dir, safe_name


def test_run_dir_stable_for_retries(tmp_path: Path) -> None:
    """The same DAG run gets the same folder, so a retry overwrites its output."""
    first = run_dir(str(tmp_path), "RIME_Firewall", "scheduled__2024-03-01T00:00:00+00:00", "x")
    second = run_dir(str(tmp_path), "RIME_Firewall", "scheduled__2024-03-01T00:00:00+00:00", "x")
    assert first == second
    assert first.is_dir()
    assert ":" not in first.name
    assert "+" not in str(first.relative_to(tmp_path))


def test_safe_name_rejects_empty() -> None:
    """A name with no usable character is rejected."""
    with pytest.raises(ValueError, match="no character"):
        safe_name("///")
