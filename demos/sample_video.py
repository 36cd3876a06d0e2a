"""Generate videos with known content at known times, for tests, the README demo and benchmarks.

A sample video is a run of scenes (default 10 s each). Each scene has a seeded background (a smooth
colour field with texture, unique per scene), one large main object from a small vocabulary (labels
recur across scenes), a big bright disk that crosses the frame left to right during the scene (so
frames a second apart differ clearly), and, with ``burn_text``, a sign word drawn in a corner in
black on a white box (large enough for OCR). Each scene also carries a spoken-style caption for a
subtitle track (see ``SampleManifest.to_srt``).

Everything is a pure function of the manifest, so ``render_frame(manifest, t)`` regenerates the
exact pre-compression frame shown at time ``t``.

Command line::

    python -m demos.sample_video OUT.mp4 --duration 60 --fps 10
"""

from __future__ import annotations

import argparse
import json
import math
from dataclasses import asdict, dataclass
from fractions import Fraction
from functools import lru_cache
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np

from demos.subtitles import srt_text
from vidmem.text import TextSpan

# (label, shape, colour RGB): eight objects, so labels recur in videos longer than eight scenes.
OBJECTS: tuple[tuple[str, str, tuple[int, int, int]], ...] = (
    ("red circle", "circle", (220, 30, 30)),
    ("blue square", "square", (30, 70, 225)),
    ("green triangle", "triangle", (30, 175, 60)),
    ("yellow star", "star", (245, 215, 20)),
    ("purple cross", "cross", (145, 50, 185)),
    ("orange diamond", "diamond", (250, 135, 20)),
    ("pink ring", "ring", (250, 110, 185)),
    ("cyan hexagon", "hexagon", (20, 205, 220)),
)

# (sign, caption): the burned-in word and the sentence spoken in the same scene.
SIGNS_AND_CAPTIONS: tuple[tuple[str, str], ...] = (
    ("KITCHEN", "The chef opens the fridge"),
    ("GARAGE", "A mechanic lifts the hood of the car"),
    ("LIBRARY", "A student returns two books"),
    ("OFFICE", "The manager answers the phone"),
    ("GARDEN", "A woman waters the tomato plants"),
    ("STATION", "The train arrives on platform four"),
    ("MARKET", "A vendor weighs a bag of apples"),
    ("HOSPITAL", "A nurse checks the patient's chart"),
    ("BEACH", "Children build a sandcastle by the water"),
    ("MUSEUM", "A guide points at an old painting"),
    ("BAKERY", "The baker pulls bread from the oven"),
    ("STADIUM", "The crowd cheers for the home team"),
    ("HARBOR", "A fishing boat ties up at the dock"),
    ("SCHOOL", "The teacher writes on the blackboard"),
    ("AIRPORT", "A pilot walks to the gate"),
    ("CAFE", "A waiter pours two cups of coffee"),
)

DISK_COLOR = (250, 250, 250)
MANIFEST_SUFFIX = ".manifest.json"


@dataclass(frozen=True)
class Scene:
    """One scene of a sample video.

    Attributes:
        index: scene number from 0.
        t_start: start time, seconds. t_end: end time, seconds (exclusive).
        label: the main object's name, e.g. ``"red circle"``.
        shape: the object's shape, e.g. ``"circle"``.
        color: the object's colour, RGB 0..255.
        sign: the word burned into the frame, uppercase (e.g. ``"KITCHEN"``).
        caption: the sentence spoken during the scene (for a subtitle track).
    """

    index: int
    t_start: float
    t_end: float
    label: str
    shape: str
    color: tuple[int, int, int]
    sign: str
    caption: str


@dataclass
class SampleManifest:
    """What a sample video contains and when.

    Attributes:
        path: the video file.
        duration: seconds. fps: frames per second.
        size: ``(width, height)`` in pixels.
        seed: the seed everything random was drawn from.
        scenes: the scenes in time order.
        scene_seconds: nominal scene length (the last scene may be shorter).
        burn_text: whether the sign word is drawn on the frames.
        codec: the encoder used (``libx264`` or ``mpeg4``).
    """

    path: str
    duration: float
    fps: float
    size: tuple[int, int]
    seed: int
    scenes: list[Scene]
    scene_seconds: float = 10.0
    burn_text: bool = True
    codec: str = "libx264"

    @property
    def n_frames(self) -> int:
        """Number of frames in the video."""
        return max(1, round(self.duration * self.fps))

    def scene_at(self, t: float) -> Scene | None:
        """The scene shown at time ``t`` seconds, or None outside ``[0, duration]``."""
        if t < 0 or t > self.duration or not self.scenes:
            return None
        index = min(int(t // self.scene_seconds), len(self.scenes) - 1)
        return self.scenes[index]

    def to_json(self) -> dict[str, Any]:
        """A JSON-able dict (``from_json`` reads it back)."""
        data = asdict(self)
        data["size"] = list(self.size)
        data["scenes"] = [{**asdict(s), "color": list(s.color)} for s in self.scenes]
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any] | str) -> SampleManifest:
        """Build a manifest from ``to_json()`` output (a dict or its JSON text)."""
        if isinstance(data, str):
            data = json.loads(data)
        scenes = [Scene(**{**s, "color": tuple(s["color"])}) for s in data["scenes"]]
        fields = {k: v for k, v in data.items() if k not in ("scenes", "size")}
        return cls(**fields, size=(int(data["size"][0]), int(data["size"][1])), scenes=scenes)

    def save(self, path: str | Path) -> Path:
        """Write the manifest as JSON to ``path`` and return it."""
        path = Path(path)
        path.write_text(json.dumps(self.to_json(), indent=1))
        return path

    @classmethod
    def load(cls, path: str | Path) -> SampleManifest:
        """Read a manifest written by ``save`` (or by ``make_sample_video``)."""
        return cls.from_json(json.loads(Path(path).read_text()))

    def caption_spans(self) -> list[TextSpan]:
        """One subtitle cue per scene with its caption, from 0.5 s in to 0.5 s before its end."""
        spans = []
        for scene in self.scenes:
            inset = min(0.5, (scene.t_end - scene.t_start) / 4)
            start = scene.t_start + inset
            spans.append(TextSpan(start, max(start + 0.1, scene.t_end - inset), scene.caption, "subtitle"))
        return spans

    def to_srt(self) -> str:
        """The captions as SubRip subtitles (see ``caption_spans``)."""
        return srt_text(self.caption_spans())


def manifest_path_for(video_path: str | Path) -> Path:
    """Where ``make_sample_video`` writes the manifest: ``<stem>.manifest.json`` beside the video."""
    video_path = Path(video_path)
    return video_path.with_name(video_path.stem + MANIFEST_SUFFIX)


def plan_scenes(duration: float, scene_seconds: float, seed: int) -> list[Scene]:
    """Draw the scene list: objects recur at random (never twice in a row); signs and their captions
    are dealt from shuffled decks, so no sign repeats until all 16 have been used.

    Args:
        duration: video length, seconds (> 0).
        scene_seconds: scene length, seconds (> 0).
        seed: random seed.

    Returns:
        Scenes covering ``[0, duration)`` in order; the last one may be shorter.
    """
    rng = np.random.default_rng(seed)
    n_scenes = max(1, math.ceil(duration / scene_seconds - 1e-9))
    signs = _deal(rng, len(SIGNS_AND_CAPTIONS), n_scenes)
    scenes: list[Scene] = []
    last_obj = -1
    for i in range(n_scenes):
        obj = _draw_other(rng, len(OBJECTS), last_obj)
        label, shape, color = OBJECTS[obj]
        word, caption = SIGNS_AND_CAPTIONS[signs[i]]
        t_start = i * scene_seconds
        t_end = min(duration, (i + 1) * scene_seconds)
        scenes.append(Scene(i, t_start, t_end, label, shape, color, word, caption))
        last_obj = obj
    return scenes


def _deal(rng: np.random.Generator, n: int, count: int) -> list[int]:
    """``count`` indices from successive shuffles of ``range(n)``, never the same twice in a row."""
    dealt: list[int] = []
    while len(dealt) < count:
        deck = rng.permutation(n).tolist()
        if dealt and n > 1 and deck[0] == dealt[-1]:
            deck.append(deck.pop(0))
        dealt.extend(deck)
    return dealt[:count]


def _draw_other(rng: np.random.Generator, n: int, previous: int) -> int:
    """A random index in ``[0, n)`` different from ``previous`` (when n > 1)."""
    value = int(rng.integers(n))
    while n > 1 and value == previous:
        value = int(rng.integers(n))
    return value


# ----------------------------------------------------------------------------------------------
# Drawing


def render_frame(manifest: SampleManifest, t: float) -> np.ndarray:
    """The exact frame (before compression) that the video shows at time ``t``.

    Args:
        manifest: the video's manifest.
        t: seconds; the frame shown is number ``floor(t * fps)``, clipped to the video.

    Returns:
        ``uint8 [H,W,3]`` RGB.
    """
    index = min(max(int(math.floor(t * manifest.fps + 1e-9)), 0), manifest.n_frames - 1)
    frame_t = index / manifest.fps
    scene = manifest.scene_at(frame_t) or manifest.scenes[-1]
    base = _scene_base(scene, manifest.size, manifest.seed, manifest.burn_text)
    image = base.copy()
    _draw_disk(image, scene, frame_t)
    return image


@lru_cache(maxsize=8)
def _scene_base(scene: Scene, size: tuple[int, int], seed: int, burn_text: bool) -> np.ndarray:
    """Everything static in a scene: background, main object and sign. ``uint8 [H,W,3]``."""
    width, height = size
    rng = np.random.default_rng([seed, scene.index, 7919])
    image = _background(rng, width, height)
    _draw_object(image, scene.shape, scene.color)
    if burn_text:
        _draw_sign(image, scene.sign)
    image.setflags(write=False)
    return image


def _background(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """A muted smooth colour field plus a seeded texture. ``uint8 [H,W,3]``."""
    coarse = rng.uniform(30, 200, size=(3, 5, 3)).astype(np.float32)
    field_ = cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC)
    cells = rng.normal(0, 1, size=(max(2, height // 12), max(2, width // 12), 1)).astype(np.float32)
    texture = cv2.resize(cells, (width, height), interpolation=cv2.INTER_LINEAR)[..., None]
    tint = rng.uniform(0.5, 1.0, size=3).astype(np.float32)
    image = field_ * 0.75 + 20 + texture * 18 * tint
    return np.clip(image, 0, 255).astype(np.uint8)


def _draw_object(image: np.ndarray, shape: str, color: tuple[int, int, int]) -> None:
    """Draw the main object large, right of centre, with a dark outline."""
    height, width = image.shape[:2]
    cx, cy, r = int(width * 0.64), int(height * 0.40), int(height * 0.25)
    outline = (20, 20, 20)
    thick = max(2, height // 120)
    if shape in ("circle", "ring"):
        cv2.circle(image, (cx, cy), r, outline, -1 if shape == "circle" else r // 2 + 2 * thick)
        cv2.circle(image, (cx, cy), r - thick, color, -1 if shape == "circle" else r // 2)
        return
    points = _polygon(shape, cx, cy, r)
    cv2.fillPoly(image, [points], color)
    cv2.polylines(image, [points], True, outline, thick)


def _polygon(shape: str, cx: int, cy: int, r: int) -> np.ndarray:
    """Vertices of a polygonal shape centred on ``(cx, cy)`` with radius ``r``. ``int32 [N,2]``."""
    if shape == "square":
        angles, radii = np.deg2rad([45, 135, 225, 315]), [r] * 4
    elif shape == "triangle":
        angles, radii = np.deg2rad([-90, 30, 150]), [r] * 3
    elif shape == "diamond":
        angles, radii = np.deg2rad([-90, 0, 90, 180]), [r, 0.7 * r, r, 0.7 * r]
    elif shape == "hexagon":
        angles, radii = np.deg2rad(np.arange(0, 360, 60)), [r] * 6
    elif shape == "star":
        angles = np.deg2rad(np.arange(-90, 270, 36))
        radii = [r if i % 2 == 0 else 0.45 * r for i in range(10)]
    elif shape == "cross":
        a, b = r, r / 3
        xy = [
            (-b, -a),
            (b, -a),
            (b, -b),
            (a, -b),
            (a, b),
            (b, b),
            (b, a),
            (-b, a),
            (-b, b),
            (-a, b),
            (-a, -b),
            (-b, -b),
        ]
        return np.array([(cx + x, cy + y) for x, y in xy], dtype=np.int32)
    else:
        raise ValueError(f"unknown shape {shape!r}")
    xs = cx + np.asarray(radii) * np.cos(angles)
    ys = cy + np.asarray(radii) * np.sin(angles)
    return np.stack([xs, ys], axis=1).round().astype(np.int32)


def _draw_sign(image: np.ndarray, word: str) -> None:
    """Black uppercase word on a white box in the top-left corner, sized for OCR."""
    height = image.shape[0]
    scale = 1.5 * height / 360
    thick = max(2, round(3 * height / 360))
    font = cv2.FONT_HERSHEY_SIMPLEX
    (tw, th), base = cv2.getTextSize(word, font, scale, thick)
    pad = max(6, height // 30)
    x0, y0 = pad, pad
    cv2.rectangle(image, (x0, y0), (x0 + tw + 2 * pad, y0 + th + base + 2 * pad), (255, 255, 255), -1)
    cv2.putText(image, word, (x0 + pad, y0 + pad + th), font, scale, (0, 0, 0), thick, cv2.LINE_AA)


def _draw_disk(image: np.ndarray, scene: Scene, t: float) -> None:
    """The bright disk, crossing the frame left to right once per scene, in the lower part."""
    height, width = image.shape[:2]
    r = int(height * 0.11)
    progress = (t - scene.t_start) / max(scene.t_end - scene.t_start, 1e-9)
    cx = int(round(-r + (width + 2 * r) * progress))
    cy = int(height * 0.82)
    cv2.circle(image, (cx, cy), r + max(2, height // 120), (40, 40, 40), -1)
    cv2.circle(image, (cx, cy), r, DISK_COLOR, -1)


# ----------------------------------------------------------------------------------------------
# Writing


def make_sample_video(
    path: str | Path,
    duration: float = 60.0,
    fps: float = 10.0,
    size: tuple[int, int] = (640, 360),
    scene_seconds: float = 10.0,
    seed: int = 0,
    burn_text: bool = True,
) -> SampleManifest:
    """Write a sample video (H.264 MP4, or MPEG-4 Part 2 without libx264) and its manifest.

    Args:
        path: output video path (``.mp4``).
        duration: seconds (> 0).
        fps: frames per second (> 0).
        size: ``(width, height)``, both even.
        scene_seconds: scene length, seconds (> 0).
        seed: random seed; the same arguments give the same frames.
        burn_text: draw each scene's sign word on its frames.

    Returns:
        The manifest, also written to ``<stem>.manifest.json`` beside the video.

    Raises:
        ValueError: on a non-positive duration, fps or scene length, or an odd frame size.
    """
    _check_args(duration, fps, size, scene_seconds)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    manifest = SampleManifest(
        path=str(path),
        duration=float(duration),
        fps=float(fps),
        size=(int(size[0]), int(size[1])),
        seed=int(seed),
        scenes=plan_scenes(duration, scene_seconds, seed),
        scene_seconds=float(scene_seconds),
        burn_text=bool(burn_text),
    )
    manifest.codec = _encode(manifest, path)
    manifest.save(manifest_path_for(path))
    return manifest


def _check_args(duration: float, fps: float, size: tuple[int, int], scene_seconds: float) -> None:
    if duration <= 0 or fps <= 0 or scene_seconds <= 0:
        raise ValueError("duration, fps and scene_seconds must be positive")
    if size[0] <= 0 or size[1] <= 0 or size[0] % 2 or size[1] % 2:
        raise ValueError(f"size must be two positive even numbers, got {size}")


def _encode(manifest: SampleManifest, path: Path) -> str:
    """Encode every frame of ``manifest`` into ``path``; returns the codec used."""
    rate = Fraction(manifest.fps).limit_denominator(1001)
    with av.open(str(path), "w") as container:
        stream, codec = _add_video_stream(container, rate, manifest.size)
        for index in range(manifest.n_frames):
            frame = av.VideoFrame.from_ndarray(render_frame(manifest, index / manifest.fps), format="rgb24")
            frame.pts = index
            frame.time_base = 1 / rate
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return codec


def _add_video_stream(container: Any, rate: Fraction, size: tuple[int, int]) -> tuple[Any, str]:
    """An H.264 stream (libx264, veryfast) or, where libx264 is missing, an MPEG-4 Part 2 stream."""
    gop = max(1, round(float(rate) * 2))
    if "libx264" in av.codecs_available:
        stream = container.add_stream("libx264", rate=rate)
        stream.codec_context.options = {"preset": "veryfast", "crf": "23"}
        codec = "libx264"
    else:
        stream = container.add_stream("mpeg4", rate=rate)
        stream.bit_rate = 2_000_000
        codec = "mpeg4"
    stream.width, stream.height = size
    stream.pix_fmt = "yuv420p"
    stream.codec_context.gop_size = gop
    stream.codec_context.time_base = 1 / rate
    return stream, codec


def main(argv: list[str] | None = None) -> int:
    """Command line: write a sample video and print its manifest path."""
    parser = argparse.ArgumentParser(description="Write a sample video with known content at known times.")
    parser.add_argument("out", help="output .mp4 path")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds (default 60)")
    parser.add_argument("--fps", type=float, default=10.0, help="frames per second (default 10)")
    parser.add_argument("--size", default="640x360", help="WIDTHxHEIGHT (default 640x360)")
    parser.add_argument("--scene-seconds", type=float, default=10.0, help="scene length (default 10)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-text", action="store_true", help="do not burn sign words into frames")
    parser.add_argument("--srt", action="store_true", help="also write <stem>.srt with the scene captions")
    args = parser.parse_args(argv)
    width, height = (int(v) for v in args.size.lower().split("x"))
    manifest = make_sample_video(
        args.out, args.duration, args.fps, (width, height), args.scene_seconds, args.seed, burn_text=not args.no_text
    )
    if args.srt:
        Path(args.out).with_suffix(".srt").write_text(manifest.to_srt())
    print(manifest_path_for(args.out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
