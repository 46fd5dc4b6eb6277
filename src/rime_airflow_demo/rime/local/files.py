"""File operations of the local engine: atomic writes and uploads under the engine's root."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path, PurePosixPath
from urllib.parse import unquote, urlparse

from rime_airflow_demo.rime.errors import InvalidInputError


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file and a rename.

    Readers, including other processes, see the old file or the new one,
    never a partial write.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    """Write UTF-8 ``text`` to ``path`` atomically (see ``atomic_write_bytes``)."""
    atomic_write_bytes(path, text.encode("utf-8"))


def upload_target(uploads: Path, upload_path: str, name: str) -> Path:
    """Return ``<uploads>/<upload_path>/<name>``, rejecting an ``upload_path`` that leaves it."""
    relative = PurePosixPath(upload_path.strip("/"))
    if not upload_path.strip("/") or any(part in ("..", ".") for part in relative.parts):
        raise InvalidInputError(
            f"upload_path={upload_path!r} is not a relative folder such as 'fraud/ref'; "
            "use a non-empty path without '.' or '..' parts."
        )
    return uploads.joinpath(*relative.parts, name)


def copy_file(source: Path, target: Path) -> None:
    """Copy one file to ``target`` atomically, replacing an older copy."""
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    shutil.copyfile(source, staging)
    os.replace(staging, target)


def copy_tree(source: Path, target: Path) -> None:
    """Copy a directory to ``target``, replacing an older copy once the new one is complete."""
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}."))
    shutil.copytree(source, staging, dirs_exist_ok=True)
    retired = None
    if target.exists():
        retired = target.with_name(f".{target.name}.{os.getpid()}.old")
        os.replace(target, retired)
    os.replace(staging, target)
    if retired is not None:
        shutil.rmtree(retired, ignore_errors=True)


def local_path(location: str) -> Path:
    """Return the local path of ``location``: a plain path or a ``file://`` URI."""
    if location.startswith("file:"):
        return Path(unquote(urlparse(location).path))
    if "://" in location:
        raise InvalidInputError(
            f"Location {location!r} is not on this machine; the local RIME engine reads local "
            "paths and file:// URIs, such as those upload_file returns."
        )
    return Path(location).expanduser()
