"""Local features for image search that survives crops: ORB keypoints, verified by a RANSAC similarity.

A global descriptor sees the whole frame, so a crop, a window border or a logo moves it. Local
features see corners; a query that shows part of a stored frame shares many of them, and a
geometric check (one similarity transform mapping query corners onto the stored frame) tells a
true match from a look-alike. Crops, rescaling, bars and screenshots are all similarities.

Both sides are prepared alike: dark borders cut off (``encoders.borders``), the picture scaled to
``width`` pixels wide and its histogram equalised, then ORB. Keypoints spread over a grid so a
crop keeps a share of them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from encoders.borders import crop_borders

DESCRIPTOR_BYTES = 32


@dataclass(frozen=True)
class LocalFeatureConfig:
    """Attributes:
    width: pictures are scaled to this width (border removed, aspect kept) before detection.
    stored: keypoints kept per stored frame (bytes: about 36 each). 96 rather than 64: soft frames
        cropped to 70 % kept too few corners of 64 to verify (needle worst case 0.875 -> 0.95).
    query: keypoints detected on a query image.
    grid: keypoints are spread over this many cells per side (strongest per cell first).
    ratio: Lowe's ratio test for a match (best distance < ratio * second best).
    max_distance: Hamming distance above which a match is ignored (of 256 bits).
    ransac_px: RANSAC reprojection threshold, pixels at ``width``.
    min_inliers: inliers for a geometric match to count as found.
    channel: the grey picture corners are found on: ``value`` (max of R, G, B: the V of HSV, which a
        saturation shift leaves as it is: a 70 % crop of a washed-out colourful frame kept 36 of 96
        inliers against 4 with luma) or ``luma`` (stores built before ``value``).
    """

    width: int = 320
    stored: int = 96
    query: int = 400
    grid: int = 4
    ratio: float = 0.85
    max_distance: int = 80
    ransac_px: float = 4.0
    min_inliers: int = 8
    channel: str = "value"

    def __post_init__(self) -> None:
        if not 64 <= self.width <= 2048:
            raise ValueError(f"width must be in [64, 2048], got {self.width}")
        if not 8 <= self.stored <= 2000 or not 8 <= self.query <= 5000:
            raise ValueError("stored and query must be in [8, 2000] and [8, 5000]")
        if not 1 <= self.grid <= 16 or not 0 < self.ratio <= 1 or not 0 < self.max_distance <= 256:
            raise ValueError("grid must be 1..16, ratio in (0, 1], max_distance in (0, 256]")
        if self.channel not in ("value", "luma"):
            raise ValueError(f"channel must be 'value' or 'luma', got {self.channel!r}")
        if self.ransac_px <= 0 or self.min_inliers < 4:
            raise ValueError("ransac_px must be > 0 and min_inliers >= 4")


class LocalFeatures:
    """ORB keypoints of pictures and the geometric check between two sets of them."""

    def __init__(self, config: LocalFeatureConfig | None = None) -> None:
        self.config = config or LocalFeatureConfig()
        self._orbs: dict[int, object] = {}
        c = self.config
        self.version = f"orb-v2:w{c.width}:n{c.stored}:g{c.grid}" + (":value" if c.channel == "value" else "")

    def describe(self, image: np.ndarray, n: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Keypoints of one picture.

        Args:
            image: ``uint8 [H,W,3]`` RGB.
            n: keypoints kept (default ``config.stored``).

        Returns:
            ``float32 [N,2]`` (x, y) at ``config.width`` wide, and ``uint8 [N,32]`` ORB descriptors (N <= n).
        """
        return self.describe_prepared(self.prepare(image), n)

    def describe_prepared(self, gray: np.ndarray, n: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """``describe`` of a picture ``prepare`` has made (``uint8 [h, config.width]``)."""
        n = n or self.config.stored
        orb = self._orb(n)
        keypoints = orb.detect(gray, None)
        if keypoints:
            points = np.array([k.pt for k in keypoints], np.float32)
            keep = _spread(points, np.array([k.response for k in keypoints]), n, self.config.grid, gray.shape)
            # descriptors only for the keypoints kept: most of ingest's cost is computing them
            keypoints, descriptors = orb.compute(gray, [keypoints[i] for i in keep])
            if descriptors is not None and keypoints:
                return np.array([k.pt for k in keypoints], np.float32), descriptors
        return np.zeros((0, 2), np.float32), np.zeros((0, DESCRIPTOR_BYTES), np.uint8)

    def prepare(self, image: np.ndarray) -> np.ndarray:
        """The picture keypoints are found on: borders cut off, ``config.width`` wide, grey, equalised."""
        import cv2

        picture = crop_borders(image)
        h, w = picture.shape[:2]
        height = max(16, round(h * self.config.width / w))
        if self.config.channel == "value":
            gray = cv2.max(cv2.max(picture[..., 0], picture[..., 1]), picture[..., 2])  # 20x numpy's max(axis=2)
        else:
            gray = cv2.cvtColor(np.ascontiguousarray(picture), cv2.COLOR_RGB2GRAY)
        # Equalising makes corner detection indifferent to brightness and contrast shifts (a washed-out
        # phone photo finds the corners the stored frame has) and halves look-alikes' chance inliers.
        return cv2.equalizeHist(cv2.resize(gray, (self.config.width, height), interpolation=cv2.INTER_AREA))

    def _orb(self, n: int):
        """An ORB detector proposing ``4 n`` corners, for ``n`` to be kept after spreading."""
        import cv2

        if n not in self._orbs:
            # A low FAST threshold keeps corners on blurred and low-contrast pictures; the grid spreads them.
            self._orbs[n] = cv2.ORB_create(nfeatures=4 * n, fastThreshold=10, edgeThreshold=15, patchSize=15)
        return self._orbs[n]

    def match(
        self, query: tuple[np.ndarray, np.ndarray], stored: tuple[np.ndarray, np.ndarray]
    ) -> tuple[np.ndarray, np.ndarray]:
        """One-to-one ratio-test matches: ``int [M]`` query rows and ``int [M]`` stored rows.

        Each stored keypoint keeps only its best query match, so a few stored corners cannot
        collect many query points (which a degenerate transform would then call inliers).
        """
        (_, qd), (_, sd) = query, stored
        if len(qd) < 2 or len(sd) < 2:
            return np.zeros(0, int), np.zeros(0, int)
        import cv2

        dist, nearest = cv2.batchDistance(qd, sd, cv2.CV_32S, normType=cv2.NORM_HAMMING, K=2)  # [Q,2] each
        best = nearest[:, 0]
        good = (dist[:, 0] < self.config.ratio * dist[:, 1]) & (dist[:, 0] <= self.config.max_distance)
        two = dist
        q = np.flatnonzero(good)
        s = best[q]
        order = np.lexsort((two[q, 0], s))  # by stored row, nearest first
        first = np.ones(len(order), bool)
        first[1:] = s[order][1:] != s[order][:-1]
        keep = order[first]
        return q[keep], s[keep]

    def inliers(self, query: tuple[np.ndarray, np.ndarray], stored: tuple[np.ndarray, np.ndarray]) -> int:
        """Matches consistent with one plausible similarity (scale 0.4-2.5, turn < 20 deg) from query to stored."""
        return self.placement(query, stored)[0]

    def placement(
        self, query: tuple[np.ndarray, np.ndarray], stored: tuple[np.ndarray, np.ndarray]
    ) -> tuple[int, np.ndarray | None]:
        """``inliers`` and the similarity behind them (``float [2,3]``, query to stored pixels; None when none)."""
        import cv2

        q, s = self.match(query, stored)
        if len(q) < 4:
            return 0, None
        model, mask = cv2.estimateAffinePartial2D(
            query[0][q], stored[0][s], method=cv2.RANSAC, ransacReprojThreshold=self.config.ransac_px,
            maxIters=200, confidence=0.99,
        )  # fmt: skip
        if model is None or mask is None:
            return 0, None
        scale = float(np.hypot(model[0, 0], model[1, 0]))
        turn = abs(float(np.degrees(np.arctan2(model[1, 0], model[0, 0]))))
        if not 0.4 <= scale <= 2.5 or turn > 20:
            return 0, None
        return int(mask.sum()), model


def _spread(points: np.ndarray, response: np.ndarray, n: int, grid: int, shape: tuple[int, int]) -> np.ndarray:
    """Indices of up to ``n`` keypoints, taking the strongest of each grid cell in turn."""
    h, w = shape
    cell = np.minimum((points[:, 1] * grid / h).astype(int), grid - 1) * grid + np.minimum(
        (points[:, 0] * grid / w).astype(int), grid - 1
    )
    order = np.lexsort((-response, cell))  # by cell, strongest first inside a cell
    rank = np.empty(len(order), int)
    starts = np.searchsorted(cell[order], np.arange(grid * grid))
    rank[order] = np.arange(len(order)) - starts[cell[order]]
    # Round-robin over cells (rank 0 of every cell, then rank 1, ...); ties broken by strength.
    chosen = np.lexsort((-response, rank))[:n]
    return np.sort(chosen)
