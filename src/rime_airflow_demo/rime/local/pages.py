"""Keeping the project and firewall index pages current as runs and bins are added.

Several processes may finish runs of one project at once, so each index
page is rebuilt from the database under a file lock. The page written last
therefore lists every run that finished before it.
"""

from __future__ import annotations

from dataclasses import replace

from filelock import FileLock

from rime_airflow_demo.rime.local.report import (
    ReportPaths,
    RunSummary,
    write_firewall_index,
    write_project_index,
)
from rime_airflow_demo.rime.local.store import Store
from rime_airflow_demo.rime.protocol import (
    FirewallRef,
    JobKind,
    JobState,
    ProjectRef,
    StressTestResult,
)

LOCK_TIMEOUT_S = 60.0


class Pages:
    """Writes index pages and fills the ``link`` of project and firewall references."""

    def __init__(self, store: Store, paths: ReportPaths) -> None:
        self._store = store
        self._paths = paths

    def with_link(self, project: ProjectRef) -> ProjectRef:
        """Return ``project`` with the file URI of its index page."""
        return replace(project, link=self._paths.project(project.project_id).as_uri())

    def with_firewall_link(self, firewall: FirewallRef) -> FirewallRef:
        """Return ``firewall`` with the file URI of its index page."""
        return replace(firewall, link=self._paths.firewall(firewall.firewall_id).as_uri())

    def refresh_project(self, project: ProjectRef) -> None:
        """Rewrite the project's index page from the stored stress test jobs."""
        path = self._paths.project(project.project_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(f"{path}.lock", timeout=LOCK_TIMEOUT_S):
            runs = []
            for job in self._store.project_jobs(project.project_id, JobKind.STRESS_TEST):
                link, counts = "", job.message
                if job.state is JobState.SUCCEEDED and job.result is not None:
                    result = StressTestResult.from_json(job.result)
                    link = result.link
                    summary = result.summary_counts
                    counts = (
                        f"{summary.total} tests: {summary.passed} pass, "
                        f"{summary.warning} warning, {summary.failed} alert, "
                        f"{summary.skipped} skipped"
                    )
                runs.append(
                    RunSummary(
                        run_name=job.name,
                        created_at=job.created_at,
                        state=job.state.value,
                        link=link,
                        counts=counts,
                    )
                )
            firewall = self._store.firewall_of_project(project.project_id)
            firewall_link = None
            if firewall is not None:
                firewall_link = self._paths.firewall(firewall.firewall_id).as_uri()
            write_project_index(path, self.with_link(project), runs, firewall_link)

    def refresh_firewall(self, firewall: FirewallRef) -> None:
        """Rewrite the firewall's index page from its stored bins."""
        path = self._paths.firewall(firewall.firewall_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(f"{path}.lock", timeout=LOCK_TIMEOUT_S):
            bins = self._store.firewall_bins(firewall.firewall_id)
            write_firewall_index(path, self._store.get_firewall(firewall.firewall_id), bins)
