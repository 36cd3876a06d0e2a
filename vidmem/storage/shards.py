"""Moving one indexed video between stores as compact records (collection workers, Ray tasks).

A worker indexes a video into its own small store (a *shard*), then :func:`export_source` turns
it into plain records (float16 vector bytes, JPEG bytes, JSON-able values) that pickle cheaply
across processes or a Ray cluster. The one writer of the collection store applies them with
:func:`import_source` in a single transaction, so a run killed at any moment leaves the store with
whole videos only, and a video already imported is never imported twice.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from vidmem.errors import StoreError
from vidmem.storage.local_features import TABLE as FEATURES_TABLE
from vidmem.storage.local_features import ensure_table, has_table
from vidmem.storage.lock import source_lock
from vidmem.storage.store import MemoryStore

ENTRY_COLUMNS = "store, scale, t_start, t_end, vector, frames, tvector, keyframe, text, encoder, written_at, extra"
KEYFRAME_COLUMN = ENTRY_COLUMNS.split(", ").index("keyframe")


@dataclass
class SourceRecords:
    """Everything a store holds about one video, as plain values.

    Attributes:
        path: the video as recorded (absolute path).
        fingerprint: content identity (``vidmem.ingest.fingerprint``).
        duration: seconds, or None.
        settings: the ingest settings the memories were built with.
        next_clip: clips read.
        entries: entry rows in id order (columns of ``ENTRY_COLUMNS``; keyframe names relative to
            the source's keyframe folder, without the shard's source id).
        feature_columns: the columns of the store's local-features table (``source_id`` left out).
        features: local-feature rows, values of ``feature_columns``.
        keyframes: JPEG bytes by file name inside the source's keyframe folder.
        meta: the store-level records the memories depend on (``encoder``, ``text_encoder``) and
            the source's speech transcript (``speech``).
    """

    path: str
    fingerprint: str
    duration: float | None
    settings: dict[str, Any]
    next_clip: int
    entries: list[tuple] = field(default_factory=list)
    feature_columns: tuple[str, ...] = ()
    features: list[tuple] = field(default_factory=list)
    keyframes: dict[str, bytes] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def nbytes(self) -> int:
        """Approximate size of the records (what crosses a process or network boundary)."""
        blobs = sum(len(v) for row in self.entries for v in row if isinstance(v, bytes | str))
        features = sum(len(v) for row in self.features for v in row if isinstance(v, bytes))
        return blobs + features + sum(map(len, self.keyframes.values()))


def export_source(store: MemoryStore, fingerprint: str) -> SourceRecords:
    """The records of a complete source of ``store`` (found by its fingerprint).

    Raises:
        StoreError: the store does not hold the source complete.
    """
    src = store.find_source(fingerprint)
    if src is None or src.status != "complete":
        raise StoreError(f"{store.root} holds no complete source with fingerprint {fingerprint[:12]}")
    prefix = f"{src.id}/"
    entries = []
    for row in store.db.execute(f"SELECT {ENTRY_COLUMNS} FROM entries WHERE source_id=? ORDER BY id", (src.id,)):
        row = list(row)
        if row[KEYFRAME_COLUMN]:
            row[KEYFRAME_COLUMN] = row[KEYFRAME_COLUMN].removeprefix(prefix)
        entries.append(tuple(row))
    features: list[tuple] = []
    columns = feature_columns(store.db)
    if columns:
        sql = f"SELECT {', '.join(columns)} FROM {FEATURES_TABLE} WHERE source_id=? ORDER BY rowid"
        features = [tuple(r) for r in store.db.execute(sql, (src.id,))]
    folder = store.root / "keyframes" / str(src.id)
    keyframes = {p.name: p.read_bytes() for p in sorted(folder.glob("*.jpg"))} if folder.is_dir() else {}
    meta = {key: store.get_meta(key) for key in ("encoder", "text_encoder")}
    meta["speech"] = store.get_meta(f"speech:{src.id}")
    return SourceRecords(
        src.path, src.fingerprint, src.duration, src.settings, src.next_clip, entries, columns, features, keyframes,
        meta,
    )  # fmt: skip


def import_source(store: MemoryStore, records: SourceRecords, replace: bool = False) -> int:
    """Writes a video's records into ``store`` as one complete source; returns its source id.

    A complete source with the same fingerprint and settings is kept as it is (a resumed run)
    unless ``replace`` (``--reindex``); a partial one (an interrupted single-video ingest) is replaced.
    Keyframe files are written before the transaction that names them, so a kill in between leaves
    only unreferenced files.

    Raises:
        StoreError: the store was built with another encoder, or holds this video with other settings.
    """
    with source_lock(store.root, records.fingerprint, records.path):
        _check_meta(store, records.meta)
        src = store.find_source(records.fingerprint)
        if src is not None and src.status == "complete" and not replace:
            if src.settings != records.settings:
                raise StoreError(f"{records.path} is already in {store.root} with other settings")
            return src.id
        if src is not None:
            store.delete_source(src.id)
        with store.transaction():
            for key in ("encoder", "text_encoder"):
                if records.meta.get(key) is not None and store.get_meta(key) is None:
                    store.set_meta(key, records.meta[key])
            source_id = store.add_source(records.path, records.fingerprint, records.duration, records.settings)
            _write_keyframes(store, source_id, records.keyframes)
            _insert(store, source_id, records)
            store.db.execute(
                "UPDATE sources SET next_clip=?, status='complete' WHERE id=?", (records.next_clip, source_id)
            )
        store.refresh_indexes()
        return source_id


def feature_columns(db) -> tuple[str, ...]:
    """Columns of the local-features table other than ``source_id`` (empty when the store has none)."""
    if not has_table(db):
        return ()
    return tuple(r[1] for r in db.execute(f"PRAGMA table_info({FEATURES_TABLE})") if r[1] != "source_id")


def _check_meta(store: MemoryStore, meta: dict[str, Any]) -> None:
    for key in ("encoder", "text_encoder"):
        mine, theirs = store.get_meta(key), meta.get(key)
        if mine is None or theirs is None:
            continue
        if (mine["name"], mine.get("version")) != (theirs["name"], theirs.get("version")):
            raise StoreError(
                f"store {store.root} was built with {key.replace('_', ' ')} {mine['name']!r} {mine.get('version')}; "
                f"a worker used {theirs['name']!r} {theirs.get('version')}"
            )


def _write_keyframes(store: MemoryStore, source_id: int, files: dict[str, bytes]) -> None:
    folder = store.root / "keyframes" / str(source_id)
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        tmp = folder / (name + ".tmp")
        tmp.write_bytes(data)
        tmp.replace(folder / name)


def _insert(store: MemoryStore, source_id: int, records: SourceRecords) -> None:
    prefix = f"{source_id}/"
    rows = []
    for row in records.entries:
        row = list(row)
        if row[KEYFRAME_COLUMN]:
            row[KEYFRAME_COLUMN] = prefix + row[KEYFRAME_COLUMN]
        rows.append((source_id, *row))
    marks = ",".join("?" * (len(ENTRY_COLUMNS.split(", ")) + 1))
    store.db.executemany(f"INSERT INTO entries(source_id, {ENTRY_COLUMNS}) VALUES ({marks})", rows)
    if records.features:
        ensure_table(store.db)
        columns = records.feature_columns
        if feature_columns(store.db) != columns:
            raise StoreError(f"store {store.root} keeps local features in another layout than the worker's vidmem")
        marks = ",".join("?" * (len(columns) + 1))
        store.db.executemany(
            f"INSERT OR REPLACE INTO {FEATURES_TABLE}(source_id, {', '.join(columns)}) VALUES ({marks})",
            [(source_id, *r) for r in records.features],
        )
    if records.meta.get("speech") is not None:
        store.set_meta(f"speech:{source_id}", records.meta["speech"])
