"""A sample video with speech: espeak-ng sentences at known times, every word's time known.

Each word is synthesised on its own (espeak-ng, Debian package ``espeak-ng``), trimmed of silence
and laid down with a short gap, so the ground truth is exact: the manifest lists every word with
its start and end. The picture is ``demos.sample_video``'s (scenes with signs); the audio is muxed
in with ffmpeg as AAC. Noise (white, at a given SNR against the speech's power) tests robustness.
"""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import tempfile
import wave
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

RATE = 22_050
WORD_GAP = 0.07
"""Seconds between words: about what espeak-ng leaves between words of one sentence at 160 wpm."""


@dataclass
class SpokenLine:
    """A sentence spoken from ``t_start``; ``words`` are ``(word, t_start, t_end)`` in the video's time."""

    t_start: float
    text: str
    words: list[tuple[str, float, float]] = field(default_factory=list)

    @property
    def t_end(self) -> float:
        return self.words[-1][2] if self.words else self.t_start


@dataclass
class SpeechManifest:
    """What a speech video holds: its lines and words, and the noise level."""

    path: str
    duration: float
    lines: list[SpokenLine]
    snr_db: float | None = None

    def to_json(self) -> dict:
        return asdict(self)


def check_tools() -> None:
    """Raises RuntimeError naming the Debian package when espeak-ng or ffmpeg is missing."""
    for tool, package in (("espeak-ng", "espeak-ng"), ("ffmpeg", "ffmpeg")):
        if shutil.which(tool) is None:
            raise RuntimeError(f"{tool} not found; install it with `apt-get install {package}`")


def speak_word(word: str, wpm: int = 160, voice: str = "en-us") -> np.ndarray:
    """``float32 [N]`` samples at ``RATE`` of one word, leading and trailing silence cut."""
    wav = subprocess.run(
        ["espeak-ng", "-v", voice, "-s", str(wpm), "--stdout", word], capture_output=True, check=True
    ).stdout
    with wave.open(io.BytesIO(wav)) as w:
        if w.getframerate() != RATE:
            raise RuntimeError(f"espeak-ng wrote {w.getframerate()} Hz audio, expected {RATE}")
        audio = np.frombuffer(w.readframes(w.getnframes()), np.int16).astype(np.float32) / 32768.0
    loud = np.nonzero(np.abs(audio) > 0.01)[0]
    return audio[loud[0] : loud[-1] + 1] if len(loud) else audio[:0]


def speech_track(lines: list[tuple[float, str]], duration: float) -> tuple[np.ndarray, list[SpokenLine]]:
    """The audio of ``lines`` (``(t_start, sentence)``) over ``duration`` seconds, and their word times.

    Returns:
        ``float32 [duration * RATE]`` samples and the spoken lines with word times.

    Raises:
        ValueError: a line overlaps the next one or runs past ``duration``.
    """
    audio = np.zeros(int(round(duration * RATE)), np.float32)
    spoken, busy_until = [], 0.0
    for t_start, text in sorted(lines):
        if t_start < busy_until:
            raise ValueError(f"line at {t_start} s starts before the previous one ends ({busy_until:.2f} s)")
        line, t = SpokenLine(float(t_start), text), float(t_start)
        for word in text.split():
            samples = speak_word(word.strip(".,!?;:"))
            at = int(round(t * RATE))
            if at + len(samples) > len(audio):
                raise ValueError(f"line at {t_start} s runs past the end of the video ({duration} s)")
            audio[at : at + len(samples)] += samples
            line.words.append((word.strip(".,!?;:"), round(t, 3), round(t + len(samples) / RATE, 3)))
            t += len(samples) / RATE + WORD_GAP
        spoken.append(line)
        busy_until = t
    return audio, spoken


def add_noise(audio: np.ndarray, snr_db: float, seed: int = 0) -> np.ndarray:
    """White noise at ``snr_db`` below the power of the speech (its non-silent samples)."""
    speech = audio[np.abs(audio) > 1e-4]
    power = float((speech**2).mean()) if len(speech) else 1e-4
    noise = np.random.default_rng(seed).normal(0.0, np.sqrt(power / 10 ** (snr_db / 10)), len(audio))
    return np.clip(audio + noise.astype(np.float32), -1.0, 1.0)


def make_speech_video(
    path: str | Path,
    lines: list[tuple[float, str]],
    duration: float,
    snr_db: float | None = None,
    fps: float = 5.0,
    size: tuple[int, int] = (320, 180),
    seed: int = 0,
    burn_text: bool = False,
) -> SpeechManifest:
    """Writes an MP4 with ``sample_video``'s picture and ``lines`` spoken at their times.

    Args:
        path: output ``.mp4``.
        lines: ``(t_start seconds, sentence)``; words are separated by spaces.
        duration: seconds.
        snr_db: add white noise at this signal-to-noise ratio; None for clean speech.
        fps, size, seed, burn_text: the picture, as in ``make_sample_video``.

    Returns:
        The manifest (also saved as ``<stem>.speech.json`` beside the video).
    """
    from demos.sample_video import make_sample_video

    check_tools()
    path = Path(path)
    audio, spoken = speech_track(lines, duration)
    if snr_db is not None:
        audio = add_noise(audio, snr_db, seed)
    with tempfile.TemporaryDirectory() as tmp:
        silent, track = Path(tmp) / "picture.mp4", Path(tmp) / "speech.wav"
        make_sample_video(silent, duration=duration, fps=fps, size=size, seed=seed, burn_text=burn_text)
        with wave.open(str(track), "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(RATE)
            w.writeframes((audio * 32767).astype(np.int16).tobytes())
        subprocess.run(
            ["ffmpeg", "-v", "error", "-y", "-i", str(silent), "-i", str(track), "-c:v", "copy", "-c:a", "aac",
             "-b:a", "64k", "-shortest", str(path)],
            check=True,
        )  # fmt: skip
    manifest = SpeechManifest(str(path), float(duration), spoken, snr_db)
    path.with_suffix(".speech.json").write_text(json.dumps(manifest.to_json(), indent=1))
    return manifest
