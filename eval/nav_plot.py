"""Top-down trajectory plots of navigation episodes, with the agent's memory contents marked."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

COLOURS = {"red": "#d62728", "green": "#2ca02c", "blue": "#1f77b4", "yellow": "#e6c200", "purple": "#9467bd"}


def plot_episode(env: Any, trace: Any, path: str | Path) -> Path:
    """Draws one played episode over the env's map and writes a PNG.

    Free cells are light, objects are squares in their colour, goals are ringed and numbered, the
    path runs from the start (triangle) to the end (cross), and the places where the memory's
    entries were written (their timesteps) are dots sized by recency.

    Args:
        env: a NavEnv reset to the traced episode, with ``top_down()``.
        trace: an ``EpisodeTrace`` (poses float [N, 3] as (x, z, heading), memory timesteps).
        path: the PNG to write.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    layers = env.top_down()
    free, (ox, oz) = layers["free"], layers["origin"]
    fig, ax = plt.subplots(figsize=(4.2, 4.2), dpi=100)
    extent = (ox - 0.5, ox + free.shape[0] - 0.5, oz + free.shape[1] - 0.5, oz - 0.5)
    ax.imshow(free.T, cmap="Greys_r", vmin=-1.5, vmax=1, extent=extent, interpolation="nearest")
    for (x0, z0), (x1, z1) in layers.get("walls", []):
        ax.plot([x0, x1], [z0, z1], "-", color="black", lw=2, zorder=2)
    for x, z, colour in layers["objects"]:
        ax.add_patch(plt.Rectangle((x - 0.35, z - 0.35), 0.7, 0.7, color=COLOURS.get(colour, "grey"), zorder=3))
    for k, goal in enumerate(env.episode.goals):
        gx, _, gz = goal.position
        ax.scatter([gx], [gz], s=420, facecolors="none", edgecolors="black", linewidths=1.5, zorder=4)
        ax.annotate(str(k + 1), (gx + 0.4, gz - 0.4), fontsize=8, zorder=5)
    poses = np.asarray(trace.poses, dtype=float)
    jitter = np.linspace(-0.12, 0.12, len(poses))  # revisits stay readable
    ax.plot(poses[:, 0] + jitter, poses[:, 1] + jitter, "-", color="#ff7f0e", lw=1.5, zorder=6)
    ax.scatter(poses[:1, 0], poses[:1, 1], marker="^", s=80, color="#ff7f0e", zorder=7, label="start")
    ax.scatter(poses[-1:, 0], poses[-1:, 1], marker="x", s=80, color="black", zorder=7, label="end")
    _mark_memory(ax, poses, trace.memory_steps)
    r = trace.result
    ax.set_title(
        f"{trace.agent} | {r.episode_id}\nsuccess {r.success:.0f}  SPL {r.spl:.2f}  goals {r.goals_reached}/{r.goals}",
        fontsize=8,
    )
    ax.set_xlabel("x (m)", fontsize=7, labelpad=1)
    ax.set_ylabel("z (m), -z up", fontsize=7)
    ax.tick_params(labelsize=6)
    # Below the map, so it never hides an object.
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=3, fontsize=6, frameon=False)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path)
    plt.close(fig)
    return path


def _mark_memory(ax: Any, poses: np.ndarray, steps: list[float]) -> None:
    """Dots where the memory's entries were written; merged entries carry fractional times."""
    if not steps:
        return
    # Observation t is seen before action t, at pose t.
    index = np.clip(np.rint(np.asarray(steps)).astype(int), 0, len(poses) - 1)
    recency = 20 + 80 * (index + 1) / len(poses)
    ax.scatter(
        poses[index, 0],
        poses[index, 1],
        s=recency,
        facecolors="none",
        edgecolors="#9467bd",
        linewidths=1.2,
        zorder=8,
        label=f"memory ({len(steps)})",
    )
