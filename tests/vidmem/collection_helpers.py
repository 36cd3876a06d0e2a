"""Helpers for the collection tests: store contents to compare, and worker functions that misbehave.

Worker functions live in an importable module because collection workers are spawned processes.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from vidmem.collection import encode_to_shard
from vidmem.storage.local_features import TABLE as FEATURES_TABLE
from vidmem.storage.shards import feature_columns
from vidmem.storage.store import MemoryStore

COLUMNS = "store, scale, t_start, t_end, vector, frames, tvector, keyframe, text, encoder, extra"


def store_content(root: Path) -> dict[str, dict]:
    """Everything a store holds per video (by path), without ids and write times.

    Entry rows keep their order; keyframe names lose their source-id folder; keyframe files are
    compared by hash.
    """
    out = {}
    with MemoryStore(root, read_only=True) as store:
        for src in store.sources():
            prefix = f"{src.id}/"
            rows = store.db.execute(f"SELECT {COLUMNS} FROM entries WHERE source_id=? ORDER BY id", (src.id,))
            entries = [tuple(r[:7]) + ((r[7] or "").removeprefix(prefix),) + tuple(r[8:]) for r in rows]
            columns = ", ".join(feature_columns(store.db)) or "NULL"
            features = store.db.execute(
                f"SELECT {columns} FROM {FEATURES_TABLE} WHERE source_id=? ORDER BY rowid", (src.id,)
            ).fetchall()
            folder = store.root / "keyframes" / str(src.id)
            keyframes = {p.name: hashlib.sha1(p.read_bytes()).hexdigest() for p in sorted(folder.glob("*.jpg"))}
            out[src.path] = {
                "status": src.status, "duration": src.duration, "clips": src.next_clip, "settings": src.settings,
                "entries": entries, "features": features, "keyframes": keyframes,
            }  # fmt: skip
    return out


def crash_on_marked(video: str, shard_dir: str, config) -> str:
    """Worker that dies (no exception, the process exits) on videos whose name contains ``crash``."""
    if "crash" in Path(video).name:
        os._exit(3)
    return encode_to_shard(video, shard_dir, config)


def crash_once(video: str, shard_dir: str, config) -> str:
    """Worker that dies the first time it meets a video (a marker file beside the shard says it did)."""
    marker = Path(shard_dir).with_name(Path(shard_dir).name + ".crashed")
    if not marker.exists():
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.touch()
        os._exit(3)
    return encode_to_shard(video, shard_dir, config)


def differences(a: dict[str, dict], b: dict[str, dict]) -> list[str]:
    """Where two ``store_content`` results differ: ``video field [row, column]`` lines (empty when equal)."""
    out = [f"only in one store: {p}" for p in sorted(set(a) ^ set(b))]
    for path in sorted(set(a) & set(b)):
        for key in a[path]:
            x, y = a[path][key], b[path][key]
            if x == y:
                continue
            if key in ("entries", "features") and len(x) == len(y):
                cells = [
                    (i, j) for i, (r, s) in enumerate(zip(x, y, strict=True)) for j in range(len(r)) if r[j] != s[j]
                ]
                out.append(f"{Path(path).name} {key} differ at [row, column] {cells[:5]}")
            else:
                out.append(f"{Path(path).name} {key}: {str(x)[:120]} != {str(y)[:120]}")
    return out


def ray_crash_on_marked(video: str, config):
    """Ray task body that kills its worker process on videos whose name contains ``crash``."""
    from vidmem.ray_runner import encode_records

    if "crash" in Path(video).name:
        os._exit(3)
    return encode_records(video, config)


def ray_crash_once(video: str, config):
    """Ray task body whose worker dies at its first try of a video (a ``.crashed`` marker beside it)."""
    from vidmem.ray_runner import encode_records

    marker = Path(video + ".crashed")
    if not marker.exists():
        marker.touch()
        os._exit(3)
    return encode_records(video, config)


def hang_in_worker(video: str, shard_dir: str, config) -> str:
    """Local worker that writes its pid beside its shard, then waits (for a test to kill its driver)."""
    import time

    Path(shard_dir).parent.mkdir(parents=True, exist_ok=True)
    Path(shard_dir + ".pid").write_text(str(os.getpid()))
    time.sleep(120)
    return encode_to_shard(video, shard_dir, config)
