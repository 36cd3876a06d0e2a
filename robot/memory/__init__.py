"""Per-episode memories for policies (MemoryVLA bank, spatial memory, HCAM chunks) and the state pool.

Every memory is a torch module with ``init_state(batch) -> dict[str, Tensor]`` and
``forward(tokens [B,N,D], place [B,3], t [B], state) -> (tokens [B,N,D], state)``; token 0 is the
cognitive (summary) token. Torch is imported only when a memory is built.
"""

from __future__ import annotations

from typing import Any

MEMORY_KINDS = ("bank", "spatial", "chunks", "none")


def build_memory(kind: str, config: Any) -> Any:
    """Builds the memory module ``kind`` from its config object (``BankConfig``, ...)."""
    if kind == "bank":
        from robot.memory.bank import MemoryBank

        return MemoryBank(config)
    if kind == "spatial":
        from robot.memory.spatial import SpatialMemory

        return SpatialMemory(config)
    if kind == "chunks":
        from robot.memory.chunks import ChunkMemory

        return ChunkMemory(config)
    if kind == "none":
        from robot.memory.none import NoMemory

        return NoMemory()
    import difflib

    close = difflib.get_close_matches(kind, MEMORY_KINDS, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    raise ValueError(f"unknown memory {kind!r}{hint} (known: {', '.join(MEMORY_KINDS)})")
