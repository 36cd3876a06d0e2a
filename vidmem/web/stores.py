"""Stores kept open and warm for the web app, one worker thread per store.

SQLite connections belong to the thread that opened them, so every call on a store (ask,
timeline, info) runs on that store's single worker thread: calls on one store queue up (the
per-store lock), calls on different stores run side by side. Before each call the worker checks
whether another process (an ``index`` or a live ingest) committed since the last call; when it
did, the cached vector indexes are dropped so the answer covers everything committed so far.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from vidmem.errors import QueryError, StoreError

T = TypeVar("T")

KEYFRAME_NAME = re.compile(r"^\d{1,9}/\d{1,12}\.jpg$")
"""How the memory writer names keyframes (``<source id>/<clip index>.jpg``); nothing else is served."""

TIMELINE_LIMIT = 2000
"""Most timeline items one request returns."""


class StoreHandle:
    """One store, opened read-only on its own worker thread and refreshed when others commit.

    Args:
        name: how the API names the store (unique among the served stores).
        root: the store directory. It may not exist yet (a live ingest is about to create it).
        evidence: evidence items per answer.
    """

    def __init__(self, name: str, root: str | Path, evidence: int = 5) -> None:
        self.name = name
        self.root = Path(root)
        self.evidence = evidence
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"store-{name}")
        self._store = None
        self._agent = None
        self._signature: tuple | None = None

    # --- running on the worker ------------------------------------------------------------

    async def call(self, fn: Callable[..., T], *args: Any) -> T:
        """Runs ``fn(*args)`` on this store's worker thread, after a refresh; awaits the result."""
        return await asyncio.wrap_future(self._pool.submit(self._fresh_call, fn, *args))

    def run(self, fn: Callable[..., T], *args: Any) -> T:
        """The blocking form of :meth:`call` (start-up, benchmarks)."""
        return self._pool.submit(self._fresh_call, fn, *args).result()

    def _fresh_call(self, fn: Callable[..., T], *args: Any) -> T:
        self._refresh()
        return fn(*args)

    def _refresh(self) -> None:
        if self._store is None:
            from vidmem.storage.store import MemoryStore

            self._store = MemoryStore(self.root, read_only=True)  # StoreError when not (yet) a store
        signature = tuple(
            self._store.db.execute(
                "SELECT COUNT(*), COALESCE(MAX(updated), 0), COALESCE(SUM(next_clip), 0) FROM sources"
            ).fetchone()
        )
        if signature != self._signature:
            self._store.refresh_indexes()
            if self._agent is not None:
                self._renew_agent()
            self._signature = signature

    def _renew_agent(self) -> None:
        """After new commits: keep the loaded encoders, drop what was read from the old state."""
        from vidmem.agent.image_search import ImageVerifier

        if self._agent.reader.text_encoder is None and self._store.get_meta("text_encoder") is not None:
            self._agent = None  # the store gained text since: load its text encoder on the next ask
            return
        self._agent.verifier = ImageVerifier(self._store)

    def close(self) -> None:
        def shut() -> None:
            if self._store is not None:
                self._store.close()
                self._store = None

        self._pool.submit(shut).result()
        self._pool.shutdown(wait=True)

    # --- operations (run on the worker) --------------------------------------------------

    def agent(self):
        """The store's retrieval agent, built on first use (loads the encoders)."""
        if self._agent is None:
            from vidmem.agent.agent import AgentConfig, RetrievalAgent

            self._check_indexed()
            self._agent = RetrievalAgent(self._store, AgentConfig(evidence=self.evidence))
        return self._agent

    def warm(self) -> None:
        """Loads the encoders and every vector index now, so the first question is as fast as the rest."""
        if self._store.count() == 0:
            return
        agent = self.agent()
        for group in agent.reader.groups():
            self._store.index(group)
        self._store.index("text-space")
        if agent.reader.text_encoder is not None:
            agent.reader.text_encoder.encode_text(["warm up", "the encoder"])

    def ask(
        self,
        question: str,
        image: np.ndarray | None,
        choices: list[str] | None,
        window: tuple[float, float] | None,
    ) -> dict[str, Any]:
        """``ask --json``'s object, each evidence item with ``keyframe_url`` and ``video_url`` added."""
        answer = self.agent().ask(question, image=image, choices=choices, window=window).to_json()
        sources = {s.path: s.id for s in self._store.sources()}
        only = next(iter(sources.items())) if len(sources) == 1 else None
        for item in answer["evidence"]:
            item["keyframe_url"] = self._keyframe_url(item.get("keyframe"))
            video = item.get("video") or (only[0] if only else None)  # text-span evidence names no video
            source_id = sources.get(video)
            item["source_id"] = source_id
            item["video_url"] = self._video_url(source_id, video)
        answer["store"] = self.name
        return answer

    def _check_indexed(self) -> None:
        if self._store.count() == 0 or self._store.get_meta("encoder") is None:
            raise QueryError(f"nothing is indexed yet in store {self.name!r}; ask again once memories are written")

    def info(self) -> dict[str, Any]:
        store = self._store
        return {
            "name": self.name,
            "store": str(store.root.resolve()),
            "encoder": store.get_meta("encoder"),
            "text_encoder": store.get_meta("text_encoder"),
            "sources": [
                {
                    "id": s.id,
                    "path": s.path,
                    "duration": s.duration,
                    "status": s.status,
                    "clips": s.next_clip,
                    "video_url": self._video_url(s.id, s.path),
                    "end": self._source_end(s.id),
                }
                for s in store.sources()
            ],  # fmt: skip
            "memories": {f"{s}@{sc}" if sc else s: n for s, sc, n in store.groups()},
            "count": store.count(),
        }

    def _source_end(self, source_id: int) -> float:
        row = self._store.db.execute("SELECT COALESCE(MAX(t_end), 0) FROM entries WHERE source_id=?", (source_id,))
        return float(row.fetchone()[0])

    def timeline(
        self, source_id: int | None, t_from: float | None, t_to: float | None, limit: int, offset: int
    ) -> dict[str, Any]:
        """Memories in time order: ``{"items": [{kind, t_start, t_end, ...}], "next_offset"}``.

        ``kind`` is ``episodic@<scale>``, ``visual`` (keyframes), ``text@<channel>`` or
        ``semantic@fact``; semantic prototypes have no place in time and are left out.
        """
        where = ["NOT (e.store='semantic' AND e.scale='')"]
        args: list[Any] = []
        for clause, value in (("e.source_id=?", source_id), ("e.t_end>=?", t_from), ("e.t_start<=?", t_to)):
            if value is not None:
                where.append(clause)
                args.append(value)
        rows = self._store.db.execute(
            "SELECT e.id, e.source_id, e.store, e.scale, e.t_start, e.t_end, e.keyframe, e.text FROM entries e "
            f"WHERE {' AND '.join(where)} ORDER BY e.t_start, e.id LIMIT ? OFFSET ?",
            (*args, limit + 1, offset),
        ).fetchall()
        items = [
            {
                "id": r[0], "source_id": r[1], "kind": f"{r[2]}@{r[3]}" if r[3] else r[2],
                "t_start": round(r[4], 3), "t_end": round(r[5], 3), "text": r[7] or "",
                "keyframe_url": self._keyframe_url(r[6]),
            }
            for r in rows[:limit]
        ]  # fmt: skip
        return {"store": self.name, "items": items, "next_offset": offset + limit if len(rows) > limit else None}

    def keyframe_file(self, source_id: int, clip: str) -> Path:
        """The JPEG of a keyframe, or ``StoreError``; only names the memory writer makes are accepted."""
        name = f"{source_id}/{clip}"
        if not KEYFRAME_NAME.match(name):
            raise StoreError(f"no keyframe named {name!r}")
        folder = (self.root / "keyframes").resolve()
        path = (folder / name).resolve()
        if folder not in path.parents or not path.is_file():
            raise StoreError(f"no keyframe named {name!r} in store {self.name!r}")
        return path

    def video_file(self, source_id: int) -> Path:
        """The source video of ``source_id`` when it is a file on disk, else ``StoreError``."""
        for s in self._store.sources():
            if s.id == source_id:
                path = Path(s.path)
                if not path.is_file():
                    raise StoreError(f"the video of source {source_id} is not on disk ({s.path})")
                return path
        raise StoreError(f"no source {source_id} in store {self.name!r}")

    def _keyframe_url(self, keyframe: str | None) -> str | None:
        if not keyframe:
            return None
        name = Path(keyframe)
        return f"/api/keyframes/{self.name}/{name.parent.name}/{name.name}"

    def _video_url(self, source_id: int | None, path: str | None) -> str | None:
        if source_id is None or not path or not Path(path).is_file():
            return None
        return f"/api/video/{self.name}/{source_id}"


def store_names(roots: list[str | Path]) -> list[str]:
    """Short, unique, URL-safe names for stores: the folder name, numbered when two agree."""
    names: list[str] = []
    for root in roots:
        base = re.sub(r"[^A-Za-z0-9_.-]+", "-", Path(root).resolve().name).strip("-.") or "store"
        name, n = base, 2
        while name in names:
            name, n = f"{base}-{n}", n + 1
        names.append(name)
    return names
