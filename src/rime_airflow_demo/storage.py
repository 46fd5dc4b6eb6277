"""Paths under the storage root, derived from the DAG run so retries overwrite."""

from __future__ import annotations

import re
from pathlib import Path

_UNSAFE = re.compile(r"[^A-Za-z0-9._=-]+")


def safe_name(value: str) -> str:
    """Return ``value`` with every run of characters unsafe in a path replaced by ``_``."""
    cleaned = _UNSAFE.sub("_", value).strip("_")
    if not cleaned:
        raise ValueError(f"{value!r} has no character usable in a path.")
    return cleaned


def run_dir(storage_root: str, dag_id: str, run_id: str, *parts: str) -> Path:
    """Return (and create) ``<root>/<dag_id>/<run_id>/<parts...>`` for one DAG run."""
    path = Path(storage_root).joinpath(safe_name(dag_id), safe_name(run_id), *map(safe_name, parts))
    path.mkdir(parents=True, exist_ok=True)
    return path
