"""Production data partitioned by UTC day under the storage root, so a day reads only its rows.

The first read splits the whole production source into one Parquet file per
day, ``<storage root>/production/day=YYYY-MM-DD.parquet``, plus an empty
``_schema.parquet`` that gives days without rows their columns. A manifest
stores a fingerprint of the source: the data settings and, for files, the
production file's size and modification time. When the fingerprint changes
(new file, other settings) the partitions are rebuilt. A file lock serialises
the rebuild and the reads, so concurrent daily runs never see half a rebuild.

After that first build, reading a day costs one small Parquet read, whatever
the length of the history.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import shutil
import uuid
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rime_airflow_demo.data.daily import days_in_interval, slice_interval, split_by_day
from rime_airflow_demo.settings import Settings

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)

PARTITION_DIR = "production"
MANIFEST_FILE = "_manifest.json"
SCHEMA_FILE = "_schema.parquet"
LOCK_FILE = ".lock"
# Bumped when the partition layout changes, so old partitions are rebuilt.
LAYOUT_VERSION = 1
LOCK_TIMEOUT_S = 600.0


def partition_folder(storage_root: str) -> Path:
    """Return the folder that contains the day partitions under ``storage_root``."""
    return Path(storage_root) / PARTITION_DIR


def day_file(folder: Path, day: date) -> Path:
    """Return the Parquet file of ``day`` in the partition ``folder``."""
    return folder / f"day={day.isoformat()}.parquet"


def source_fingerprint(settings: Settings) -> str:
    """Return a hash of everything that decides the production rows.

    For ``files`` this includes the production file's size and modification
    time, so replacing the file triggers a rebuild.
    """
    description: dict[str, Any] = {
        "layout": LAYOUT_VERSION,
        "data_source": settings.data_source,
        "timestamp_col": settings.timestamp_col,
        "label_col": settings.label_col,
        "feature_cols": list(settings.feature_cols),
        "ignored_cols": list(settings.ignored_cols),
    }
    if settings.data_source == "generated":
        description["generator"] = {
            key: str(value) for key, value in dataclasses.asdict(settings.generator).items()
        }
    else:
        url = f"{settings.data_path.rstrip('/')}/{settings.production_file}"
        description["url"] = url
        description["file"] = _file_stat(url)
    text = json.dumps(description, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def read_interval(settings: Settings, start: datetime | str, end: datetime | str) -> pd.DataFrame:
    """Return the production rows with a timestamp in ``[start, end)`` (UTC).

    Reads only the day partitions that overlap the interval, building them
    first when they are missing or stale.
    """
    import pandas as pd

    folder = partition_folder(settings.storage_root)
    with _lock(folder):
        _ensure_partitions(settings, folder)
        frames = [
            pd.read_parquet(day_file(folder, day))
            for day in days_in_interval(start, end)
            if day_file(folder, day).exists()
        ]
        schema = pd.read_parquet(folder / SCHEMA_FILE)
    if not frames:
        return schema
    combined = pd.concat(frames, ignore_index=True)
    selected = slice_interval(combined, settings.timestamp_col, start, end)
    return selected.reset_index(drop=True)


def _ensure_partitions(settings: Settings, folder: Path) -> None:
    fingerprint = source_fingerprint(settings)
    manifest_path = folder / MANIFEST_FILE
    if manifest_path.exists():
        manifest = json.loads(manifest_path.read_text())
        if manifest.get("fingerprint") == fingerprint:
            return
        log.info("Production source changed; rebuilding the day partitions in %s", folder)
    _build_partitions(settings, folder, fingerprint)


def _build_partitions(settings: Settings, folder: Path, fingerprint: str) -> None:
    """Split the production source into day files; swap them in only when all are written."""
    from rime_airflow_demo.data.sources import load_production

    frame = load_production(settings)
    staging = folder.parent / f".{folder.name}-{uuid.uuid4().hex[:8]}"
    staging.mkdir(parents=True)
    try:
        frame.iloc[:0].to_parquet(staging / SCHEMA_FILE, index=False)
        days = split_by_day(frame, settings.timestamp_col)
        for day, rows in days.items():
            rows.to_parquet(day_file(staging, day), index=False)
        manifest = {
            "fingerprint": fingerprint,
            "rows": len(frame),
            "days": {day.isoformat(): len(rows) for day, rows in days.items()},
        }
        # The manifest goes last, so an interrupted swap leaves no valid
        # fingerprint and the next read rebuilds.
        (folder / MANIFEST_FILE).unlink(missing_ok=True)
        for old in folder.glob("day=*.parquet"):
            old.unlink()
        for new in staging.iterdir():
            os.replace(new, folder / new.name)
        (folder / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2))
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    log.info(
        "Partitioned %d production rows into %d day files in %s", len(frame), len(days), folder
    )


def _lock(folder: Path) -> Any:
    from filelock import FileLock

    folder.mkdir(parents=True, exist_ok=True)
    return FileLock(str(folder / LOCK_FILE), timeout=LOCK_TIMEOUT_S)


def _file_stat(url: str) -> dict[str, str]:
    """Return the size and modification time of ``url`` (a local path or fsspec URL)."""
    import fsspec

    from rime_airflow_demo.data.schema import DataError

    fs, path = fsspec.core.url_to_fs(url)
    try:
        info = fs.info(path)
    except FileNotFoundError as exc:
        raise DataError(
            f"Data file {url!r} not found; check RIME_DEMO_DATA_PATH and RIME_DEMO_PRODUCTION_FILE."
        ) from exc
    modified = info.get("mtime") or info.get("LastModified") or info.get("last_modified") or ""
    return {"size": str(info.get("size", "")), "modified": str(modified)}
