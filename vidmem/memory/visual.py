"""Visual memory: keyframes picked by novelty, kept as JPEG thumbnails beside their vectors."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vidmem.memory.novelty import NoveltyMeter, cosine_distance


@dataclass(frozen=True)
class VisualConfig:
    """Attributes:
    min_gap: seconds between keyframes at least (bounds storage per hour).
    max_gap: seconds after which a keyframe is taken even without novelty.
    novelty_k: standard deviations above the stream's usual change that count as novel.
    thumb_side: longer side of the stored JPEG, pixels.
    jpeg_quality: 1..100.
    """

    min_gap: float = 4.0
    max_gap: float = 60.0
    novelty_k: float = 3.0
    thumb_side: int = 256
    jpeg_quality: int = 75

    def __post_init__(self) -> None:
        if not 0 <= self.min_gap <= self.max_gap:
            raise ValueError("need 0 <= min_gap <= max_gap")
        if not 16 <= self.thumb_side <= 4096 or not 1 <= self.jpeg_quality <= 100:
            raise ValueError("thumb_side must be 16..4096 and jpeg_quality 1..100")


class KeyframeSelector:
    """Decides, one candidate frame at a time, whether it becomes a keyframe.

    A candidate is kept after a cut (its change from the previous candidate is novel for this
    stream), when it drifted far from the last keyframe, or when ``max_gap`` seconds passed; never
    sooner than ``min_gap`` after the last keyframe (a cut seen too soon is kept in mind until then).
    """

    def __init__(self, config: VisualConfig) -> None:
        self.config = config
        self.meter = NoveltyMeter(k=config.novelty_k)
        self.last_vec: np.ndarray | None = None
        self.prev_vec: np.ndarray | None = None
        self.last_t = -np.inf
        self.pending_cut = False

    def consider(self, t: float, vector: np.ndarray) -> bool:
        """``vector`` float32 [D] of the frame at ``t`` seconds; True if it is a keyframe."""
        if self.prev_vec is not None:
            self.pending_cut |= self.meter.is_novel(cosine_distance(self.prev_vec, vector))
        self.prev_vec = vector
        gap = t - self.last_t
        keep = self.last_vec is None or gap >= self.config.max_gap
        if not keep and gap >= self.config.min_gap:
            keep = self.pending_cut or cosine_distance(self.last_vec, vector) > self.meter.threshold()
        if keep:
            self.last_vec, self.last_t, self.pending_cut = vector, t, False
        return keep

    def state(self) -> dict:
        meta = {"meter": self.meter.state(), "last_t": float(self.last_t), "pending_cut": self.pending_cut}
        out: dict = {"visual": meta}
        if self.last_vec is not None:
            out["visual_last"] = self.last_vec
        if self.prev_vec is not None:
            out["visual_prev"] = self.prev_vec
        return out

    def load_state(self, state: dict) -> None:
        if "visual" not in state:
            return
        self.meter.load(state["visual"]["meter"])
        self.last_t = float(state["visual"]["last_t"])
        self.pending_cut = bool(state["visual"]["pending_cut"])
        self.last_vec = state.get("visual_last")
        self.prev_vec = state.get("visual_prev")


def encode_thumbnail(image: np.ndarray, config: VisualConfig) -> bytes:
    """``uint8 [H,W,3]`` RGB -> JPEG bytes with the longer side at most ``thumb_side``."""
    import cv2

    h, w = image.shape[:2]
    scale = min(1.0, config.thumb_side / max(h, w))
    if scale < 1.0:
        image = cv2.resize(image, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
    ok, buf = cv2.imencode(".jpg", image[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, config.jpeg_quality])
    if not ok:
        raise RuntimeError("JPEG encoding of a keyframe failed")
    return buf.tobytes()
