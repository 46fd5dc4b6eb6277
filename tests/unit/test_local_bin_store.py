"""Properties of the local engine's bin store: one bin per firewall and start, across reruns."""

from __future__ import annotations

import tempfile
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from rime_airflow_demo.rime.local.store import Store
from rime_airflow_demo.rime.protocol import (
    BinResult,
    DetectionEvent,
    Severity,
    TestCategory,
)

FIRST_DAY = date(2024, 3, 1)

# A run writes one day's bin with some rows and some events.
runs = st.lists(
    st.tuples(st.integers(0, 9), st.integers(1, 500), st.integers(0, 3)),
    min_size=1,
    max_size=25,
)


def _bin(firewall_id: str, offset: int, rows: int) -> BinResult:
    start = datetime.combine(FIRST_DAY + timedelta(days=offset), datetime.min.time(), timezone.utc)
    return BinResult(
        firewall_id,
        start.isoformat(),
        (start + timedelta(days=1)).isoformat(),
        rows,
        Severity.PASS,
        {"rows": float(rows)},
    )


def _events(result: BinResult, count: int, run: int) -> list[DetectionEvent]:
    return [
        DetectionEvent(
            f"event-{run}-{index}",
            result.firewall_id,
            result.start,
            result.end,
            "feature_drift_psi",
            "country",
            0.3,
            0.2,
            Severity.ALERT,
            TestCategory.DRIFT,
        )
        for index in range(count)
    ]


@settings(max_examples=40, deadline=None)
@given(writes=runs)
def test_reruns_leave_one_bin_per_day(writes: list[tuple[int, int, int]]) -> None:
    """After any sequence of day reruns, each day has one bin holding its last run's rows."""
    with tempfile.TemporaryDirectory() as folder:
        store = Store(Path(folder))
        project = store.get_or_create_project("fraud", "")
        firewall = store.upsert_firewall(project.project_id, "model", "ref", 86_400)
        last: dict[str, tuple[int, int]] = {}
        for run, (offset, rows, event_count) in enumerate(writes):
            result = _bin(firewall.firewall_id, offset, rows)
            store.replace_bin(f"job-{run}", result, _events(result, event_count, run))
            last[result.start] = (rows, event_count)

        bins = store.firewall_bins(firewall.firewall_id)
        assert [b.start for b in bins] == sorted(last)
        for stored in bins:
            rows, event_count = last[stored.start]
            assert stored.n_rows == rows
            assert len(store.bin_events(firewall.firewall_id, stored.start)) == event_count
