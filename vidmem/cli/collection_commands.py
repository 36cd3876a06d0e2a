"""Collection parts of ``index``, ``ask`` and ``info``: many videos, ``--video NAME``, per-video sizes.

``store_commands`` parses the arguments and calls in here; this module registers no commands of its own.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any


def index_many(args: argparse.Namespace, config) -> dict[str, Any]:
    """``vidmem index A B DIR @list.txt --store S [--workers N] [--cluster ray]``."""
    from vidmem.collection import CollectionConfig, index_collection, print_progress

    try:
        run = CollectionConfig(workers=args.workers or 1, cluster=args.cluster)
    except ValueError as exc:
        from vidmem.errors import VidmemError

        raise VidmemError(str(exc)) from None
    report = index_collection(
        args.video, args.store, config, run, reindex=args.reindex, progress=print_progress, encode=None
    )
    out = report.to_json()
    if not args.json:
        counts = ", ".join(f"{n} {status}" for status, n in out["counts"].items()) or "nothing"
        print(
            f"{out['videos']} videos -> {out['store']}: {counts} "
            f"({out['hours_indexed']:.2f} h of video in {out['seconds'] / 60:.1f} min, "
            f"{out['hours_per_minute']:.2f} h/min)"
        )
        for f in out["failures"]:
            print(f"failed: {f['video']}: {f['reason']}")
    elif out["failed"]:
        for f in out["failures"]:
            print(f"warning: not indexed: {f['video']}: {f['reason']}", file=sys.stderr)
    return out


def restrict_to_video(store, name: str):
    """The store seen through one of its videos (``ask --video NAME``).

    ``name`` matches a source's full path, file name or file stem.

    Raises:
        QueryError: no video, or several, match the name; the message lists the store's videos.
    """
    from vidmem.errors import QueryError
    from vidmem.storage.view import SourceView

    sources = store.sources()
    exact = [s for s in sources if s.path == name or s.path == str(Path(name).resolve())]
    matches = exact or [s for s in sources if name in (Path(s.path).name, Path(s.path).stem)]
    if len(matches) != 1:
        names = ", ".join(Path(s.path).name for s in sources[:20]) or "none"
        how = "no video" if not matches else f"{len(matches)} videos"
        raise QueryError(f"--video {name!r}: {how} in {store.root} match (videos: {names}); give the full path")
    return SourceView(store, matches[0].id)


def source_sizes(store) -> dict[int, dict[str, Any]]:
    """Per source: ``hours``, ``bytes`` (its records in SQLite plus keyframe files) and ``name``."""
    sizes: dict[int, dict[str, Any]] = {}
    rows = store.db.execute(
        "SELECT source_id, COALESCE(SUM(COALESCE(length(vector),0) + COALESCE(length(frames),0) + "
        "COALESCE(length(tvector),0) + length(text) + length(extra)), 0) FROM entries GROUP BY source_id"
    ).fetchall()
    record_bytes = dict(rows)
    for s in store.sources():
        folder = store.root / "keyframes" / str(s.id)
        jpegs = sum(p.stat().st_size for p in folder.iterdir() if p.is_file()) if folder.is_dir() else 0
        sizes[s.id] = {
            "name": Path(s.path).name, "hours": round((s.duration or 0.0) / 3600, 4),
            "bytes": int(record_bytes.get(s.id, 0)) + jpegs,
        }  # fmt: skip
    return sizes


def failed_sources(store) -> list[dict[str, Any]]:
    """Videos a collection run could not index (they are not ``complete`` sources)."""
    from vidmem.collection import FAILURES_KEY

    known = {s.path for s in store.sources() if s.status == "complete"}
    failures = store.get_meta(FAILURES_KEY, {}) or {}
    return [
        {"id": None, "path": path, "name": Path(path).name, "duration": None, "status": "failed", "clips": 0,
         "hours": 0.0, "bytes": 0, "error": reason}
        for path, reason in sorted(failures.items()) if path not in known
    ]  # fmt: skip
