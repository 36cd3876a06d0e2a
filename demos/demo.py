"""The README's main job: make a sample video, index it, ask it questions, print the answers.

The sample video has known content (see ``demos.sample_video``): scenes with a sign word burned
into the picture and a sentence in a subtitle stream inside the container. The questions are
written from that known content, and each answer is printed with its evidence, so a reader can
check it against the scene list printed first.

    python -m demos.demo OUT_DIR [--duration 120]
"""

from __future__ import annotations

import argparse
import shlex
import subprocess
import sys
from collections import Counter
from pathlib import Path

import cv2

from demos.sample_video import SampleManifest, make_sample_video, render_frame
from demos.subtitles import mux_subtitles
from vidmem.agent.reasoner import fmt_span


def make_inputs(out: Path, duration: float) -> tuple[Path, SampleManifest]:
    """Writes the sample video with an embedded subtitle stream; returns its path and manifest."""
    out.mkdir(parents=True, exist_ok=True)
    plain = out / "sample.mp4"
    manifest = make_sample_video(plain, duration=duration, fps=10.0, size=(640, 360), seed=0, burn_text=True)
    video = mux_subtitles(plain, manifest.caption_spans(), out / "sample.mkv")
    return video, manifest


def questions(manifest: SampleManifest, out: Path) -> list[list[str]]:
    """``vidmem ask`` argument lists written from the known scenes."""
    scenes = manifest.scenes
    middle = scenes[len(scenes) // 2]
    later = scenes[min(len(scenes) - 1, len(scenes) // 2 + 3)]
    recurring, _ = Counter(s.sign for s in scenes).most_common(1)[0]
    frame_t = round(middle.t_start + 3.0, 1)
    frame_png = out / f"frame_at_{frame_t:g}s.png"
    cv2.imwrite(str(frame_png), render_frame(manifest, frame_t)[:, :, ::-1])
    wrong = [_last_noun(s.caption) for s in scenes if s.sign != later.sign][:2]
    return [
        [f"When is the sign {later.sign} shown?"],
        [f"What is said about the {_last_noun(middle.caption)}?"],
        [f"How many times is {recurring} written on screen?"],
        [f"What happens after {middle.caption[0].lower()}{middle.caption[1:].rstrip('.')}?"],
        [f"What is said while the sign {later.sign} is shown?", *_choices([_last_noun(later.caption), *wrong])],
        ["", "--image", str(frame_png)],
    ]


def _choices(options: list[str]) -> list[str]:
    return [arg for option in options for arg in ("--choice", option)]


def _last_noun(caption: str) -> str:
    return caption.rstrip(".").split()[-1]


def run(cmd: list[str]) -> None:
    print(f"\n$ {' '.join(shlex.quote(c) for c in cmd)}", flush=True)
    subprocess.run(cmd, check=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="folder for the video, the store and the frame image")
    parser.add_argument("--duration", type=float, default=120.0, help="sample video length in seconds")
    args = parser.parse_args(argv)
    video, manifest = make_inputs(args.out, args.duration)
    print(f"sample video {video} ({manifest.duration:g} s). Its scenes:")
    for s in manifest.scenes:
        print(f"  {fmt_span(s.t_start, s.t_end):>11}  sign {s.sign:<9} {s.label:<15} said: {s.caption}")
    vidmem = [sys.executable, "-m", "vidmem.cli"]
    store = args.out / "store"
    run([*vidmem, "index", str(video), "--store", str(store)])
    run([*vidmem, "info", str(store)])
    for q in questions(manifest, args.out):
        run([*vidmem, "ask", str(store), *q])
    return 0


if __name__ == "__main__":
    sys.exit(main())
