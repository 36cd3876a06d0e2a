"""``ask --plot``: a timeline picture of one video's memory with a question's evidence marked.

Lanes from top to bottom: episodic windows at each coarse scale, clips, keyframes, and each text
channel (subtitles, captions, on-screen text). The evidence is boxed in red on its own lane and numbered by
rank, with a faint band across all lanes at the top one; for an abstained answer the marks are grey
(closest memories, not support). matplotlib is imported here only, with the Agg backend (no display needed).
"""

from __future__ import annotations

import textwrap
from pathlib import Path

from vidmem.storage.store import MemoryStore
from vidmem.types import Answer

WIDTH_IN, HEIGHT_IN, DPI = 12.0, 5.0, 100
"""The PNG is 1200 x 500 pixels."""


def plot_timeline(store: MemoryStore, answer: Answer, path: str | Path, question: str = "") -> Path:
    """Draws the timeline of the video the top evidence comes from and writes it to ``path`` (PNG).

    Returns:
        The path written.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    source_id, duration = _video(store, answer)
    lanes = _lanes(store, source_id)
    fig, ax = plt.subplots(figsize=(WIDTH_IN, HEIGHT_IN), dpi=DPI)
    try:
        for row, (_, spans, style) in enumerate(lanes):
            y = len(lanes) - 1 - row
            if style == "ticks":
                ax.vlines([a for a, _ in spans], y - 0.35, y + 0.35, color="#355c7d", linewidth=1)
            else:
                colors = ["#9bb7d4", "#c6d8ea"] if style == "windows" else ["#6c9a8b"]
                bars = [(a, max(b - a, duration / 2000)) for a, b in spans]
                ax.broken_barh(bars, (y - 0.3, 0.6), facecolors=colors, edgecolor="white", linewidth=0.3)
        _mark_evidence(ax, answer, lanes)
        ax.set_yticks(range(len(lanes)), [name for name, _, _ in reversed(lanes)])
        ax.set_xlim(0, duration)
        ax.set_ylim(-0.8, len(lanes) - 0.2)
        ax.set_xlabel("time (s)")
        ax.set_title(_title(question, answer), fontsize=9, loc="left")
        fig.tight_layout()
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=DPI)
    finally:
        plt.close(fig)
    return path


def _video(store: MemoryStore, answer: Answer) -> tuple[int | None, float]:
    sources = store.sources()
    wanted = answer.evidence[0].video if answer.evidence else None
    chosen = next((s for s in sources if s.path == wanted), sources[0] if sources else None)
    if chosen is None:
        return None, 1.0
    ids = store.select_ids(None, None, source_id=chosen.id)
    last = max((e.t_end for e in store.get_entries(ids[-50:])), default=1.0)
    return chosen.id, max(chosen.duration or 0.0, last, 1e-3)


def _lanes(store: MemoryStore, source_id: int | None) -> list[tuple[str, list[tuple[float, float]], str]]:
    """(label, spans, style) per lane, top to bottom."""

    def spans(kind: str, scale: str | None) -> list[tuple[float, float]]:
        entries = store.get_entries(store.select_ids(kind, scale, source_id=source_id))
        return [(e.t_start, e.t_end) for e in entries]

    groups = store.groups()
    scales = sorted({sc for s, sc, _ in groups if s == "episodic" and sc != "clip"}, key=lambda s: -float(s[:-1]))
    lanes = [(f"episodic {sc}", spans("episodic", sc), "windows") for sc in scales]
    lanes.append(("clips", spans("episodic", "clip"), "windows"))
    lanes.append(("keyframes", spans("visual", None), "ticks"))
    for kind in sorted({sc for s, sc, _ in groups if s == "text"}):
        lanes.append((kind, spans("text", kind), "text"))
    return lanes


def _mark_evidence(ax, answer: Answer, lanes: list) -> None:
    """A faint band across all lanes at the top evidence; each evidence boxed on its own lane, numbered."""
    from matplotlib.patches import Rectangle

    color = "#d62728" if answer.found else "#555555"
    if answer.evidence:
        top = answer.evidence[0]
        ax.axvspan(top.t_start, max(top.t_end, top.t_start + 0.2), color=color, alpha=0.12, linewidth=0)
    for rank, e in enumerate(answer.evidence):
        row = _lane_of(e, lanes)
        if row is None:
            continue
        y = len(lanes) - 1 - row
        width = max(e.t_end - e.t_start, 0.2)
        ax.add_patch(
            Rectangle((e.t_start, y - 0.42), width, 0.84, facecolor=color, alpha=0.45, edgecolor=color, linewidth=1.5)
        )
        ax.text(e.t_start + width / 2, y + 0.45, str(rank + 1), color=color, fontsize=8, ha="center", va="bottom")


def _lane_of(e, lanes: list) -> int | None:
    names = [name for name, _, _ in lanes]
    store, _, scale = e.source.partition("@")
    if store == "episodic":
        label = "clips" if scale == "clip" else f"episodic {scale}"
        return names.index(label) if label in names else None
    if store == "visual":
        return names.index("keyframes")
    for row, (_, spans, style) in enumerate(lanes):
        if style == "text" and any(abs(a - e.t_start) < 1e-3 and abs(b - e.t_end) < 1e-3 for a, b in spans):
            return row
    return None


def _title(question: str, answer: Answer) -> str:
    q = textwrap.shorten(question or "(image query)", 110)
    a = textwrap.shorten(answer.text, 130)
    found = "" if answer.found else " [not found]"
    return f"Q: {q}\nA: {a}{found}  (confidence {answer.confidence:.2f})"
