"""The store's ``index/`` folder: FAISS index files checked against a checksummed manifest.

``index/manifest.json`` maps each group to the SQLite signature the file was built from (count,
max id, sum of ids) and the SHA-256 of the file's bytes. A file is used only when both match,
so flipped bytes, a truncated file or one group's file copied over another's are caught and
the index is rebuilt from SQLite (the source of truth) with a ``warning:`` line. When the
folder cannot be written (read-only filesystem, full disk) the rebuilt index is used from
memory, also with a warning, and no partial file is left behind.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import warnings
from pathlib import Path

from vidmem.errors import StoreWarning
from vidmem.storage.index import VectorIndex

MANIFEST = "manifest.json"
DB_HINT = "store.sqlite"


class IndexFiles:
    """Loads and saves the index files of one store.

    Args:
        folder: the store's ``index/`` folder (index files are a cache derived from SQLite, so they
            are written even when SQLite is opened read-only, whenever the folder allows it).
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def path(self, group: str) -> Path:
        return self.folder / f"{group}.faiss"

    def load(self, group: str, signature: list) -> VectorIndex | None:
        """The saved index when it matches ``signature`` and its checksum, else None (rebuild)."""
        record = self._manifest().get(group)
        path = self.path(group)
        if not isinstance(record, dict) or record.get("signature") != signature or not path.is_file():
            return None  # never saved, or SQLite changed since: stale, not damaged
        try:
            data = path.read_bytes()
        except OSError:
            return None
        if hashlib.sha256(data).hexdigest() != record.get("sha256"):
            warnings.warn(
                f"index file {path} does not match its checksum (damaged or replaced); rebuilt from {DB_HINT}",
                StoreWarning,
                3,
            )
            return None
        try:
            index = VectorIndex.from_bytes(data)
        except RuntimeError:
            warnings.warn(f"index file {path} cannot be read; rebuilt from {DB_HINT}", StoreWarning, 3)
            return None
        return index if index.ntotal == signature[0] else None

    def save(self, group: str, signature: list, index: VectorIndex) -> None:
        """Writes the index file and its manifest record; on failure keeps the index in memory only."""
        data = index.to_bytes()
        try:
            self.folder.mkdir(exist_ok=True)
            _write_atomic(self.path(group), data)
            manifest = self._manifest()
            manifest[group] = {"signature": signature, "sha256": hashlib.sha256(data).hexdigest()}
            _write_atomic(self.folder / MANIFEST, json.dumps(manifest, sort_keys=True).encode())
        except OSError as exc:
            warnings.warn(
                f"cannot save index {self.path(group)} ({exc.strerror or exc}); using it from memory for this run",
                StoreWarning,
                3,
            )

    def forget(self, group: str) -> None:
        """Deletes a group's file and manifest record (an index no longer kept on disk); best effort."""
        manifest = self._manifest()
        path = self.path(group)
        if group not in manifest and not path.exists():
            return
        with contextlib.suppress(OSError):
            path.unlink(missing_ok=True)
            manifest.pop(group, None)
            _write_atomic(self.folder / MANIFEST, json.dumps(manifest, sort_keys=True).encode())

    def _manifest(self) -> dict:
        try:
            data = json.loads((self.folder / MANIFEST).read_text())
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}


def _write_atomic(path: Path, data: bytes) -> None:
    """Temp file, fsync, rename: a crash or a full disk leaves the old file (or none), never half a file."""
    tmp = path.with_name(path.name + ".tmp")
    try:
        with tmp.open("wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
