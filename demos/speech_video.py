"""A sample video with speech: espeak-ng sentences at known times, every word's time known.

By default each sentence is synthesised whole (espeak-ng, Debian package ``espeak-ng``, through its
library ``libespeak-ng.so.1``) and the word starts are espeak-ng's own word events, which carry the
sample position where each word's first phoneme begins: natural speech (coarticulation, sentence
rhythm) with exact starts. ``mode="words"`` synthesises each word on its own, trims it and lays it
down with a short gap (the former generator: exact too, but choppy speech that Whisper hears worse).
The manifest lists every word with its start and end. The picture is ``demos.sample_video``'s
(scenes with signs); the audio is muxed in with ffmpeg as AAC. Noise (white, at a given SNR against
the speech's power) tests robustness.
"""

from __future__ import annotations

import ctypes
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
    """A sentence spoken from ``t_start``; ``words`` are ``(word, t_start, t_end)`` in the video's time.

    Words listed in ``untimed`` carry the times of the unit they were spoken in, not their own.
    """

    t_start: float
    text: str
    words: list[tuple[str, float, float]] = field(default_factory=list)
    untimed: list[int] = field(default_factory=list)
    """Indexes of words whose start is not known (spoken as one unit with the word before)."""

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


class _EspeakEvent(ctypes.Structure):
    """``espeak_EVENT`` of ``speak_lib.h`` (espeak-ng 1.51)."""

    _fields_ = [("type", ctypes.c_int), ("unique_identifier", ctypes.c_uint), ("text_position", ctypes.c_int),
                ("length", ctypes.c_int), ("audio_position", ctypes.c_int), ("sample", ctypes.c_int),
                ("user_data", ctypes.c_void_p), ("id", ctypes.c_char * 8)]  # fmt: skip


_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_EspeakEvent))
_EVENT_WORD, _SYNCHRONOUS, _POS_CHARACTER, _RATE_PARAMETER = 1, 2, 1, 1


class _Espeak:
    """libespeak-ng in synchronous mode: samples and word events of one synthesis."""

    def __init__(self) -> None:
        try:
            self.lib = ctypes.CDLL("libespeak-ng.so.1")
        except OSError as exc:
            raise RuntimeError("libespeak-ng.so.1 not found; install it with `apt-get install espeak-ng`") from exc
        if self.lib.espeak_Initialize(_SYNCHRONOUS, 0, None, 0) != RATE:
            raise RuntimeError(f"libespeak-ng does not synthesise at {RATE} Hz")
        self.samples: list[np.ndarray] = []
        self.words: list[tuple[int, int]] = []
        self._callback = _CALLBACK(self._collect)  # kept referenced: the library calls it later
        self.lib.espeak_SetSynthCallback(self._callback)

    def _collect(self, wav, n: int, events) -> int:
        if n > 0:
            self.samples.append(np.ctypeslib.as_array(wav, (n,)).astype(np.float32) / 32768.0)
        i = 0
        while events[i].type != 0:  # the list ends with espeakEVENT_LIST_TERMINATED
            # espeak-ng 1.51 also sends empty word events (length 0) at a message's end after
            # another message: they are no word of the text
            if events[i].type == _EVENT_WORD and events[i].length > 0:
                self.words.append((int(events[i].text_position), int(events[i].sample)))
            i += 1
        return 0

    def speak(self, text: str, wpm: int, voice: str) -> tuple[np.ndarray, list[tuple[int, int]]]:
        """Samples of ``text`` and its word events as ``(1-based character position, sample)``."""
        self.samples, self.words = [], []
        self.lib.espeak_SetVoiceByName(voice.encode())
        self.lib.espeak_SetParameter(_RATE_PARAMETER, wpm, 0)
        data = text.encode()
        self.lib.espeak_Synth(data, len(data) + 1, 0, _POS_CHARACTER, 0, 0, None, None)
        self.lib.espeak_Synchronize()
        audio = np.concatenate(self.samples) if self.samples else np.zeros(0, np.float32)
        return audio, self.words


_ESPEAK: _Espeak | None = None


def speak_sentence(text: str, wpm: int = 160, voice: str = "en-us") -> tuple[np.ndarray, list[tuple], list[int]]:
    """A sentence synthesised whole: ``float32 [N]`` samples at ``RATE``, its ``(word, t0, t1)``, untimed words.

    ``t0`` is espeak-ng's word event (the sample where the word's first phoneme starts); ``t1`` is
    the last loud sample before the next word's start (the last word's: of the sentence). espeak-ng
    speaks some pairs as one unit ("in the") and reports only the first: the second gets the
    pair's times and its index is listed as untimed (its start is not known). Trailing silence is
    cut; the few milliseconds espeak-ng leaves first are kept (times count from them).

    Raises:
        RuntimeError: espeak-ng reported no word event at the sentence's first word.
    """
    global _ESPEAK
    if _ESPEAK is None:
        _ESPEAK = _Espeak()
    audio, events = _ESPEAK.speak(text, wpm, voice)
    at = {position: sample for position, sample in events}
    words, positions, search = [], [], 0
    for token in text.split():
        search = text.index(token, search)
        words.append(token.strip(".,!?;:"))
        positions.append(search + 1 + (len(token) - len(token.lstrip(".,!?;:"))))  # 1-based, as espeak-ng
        search += len(token)
    if positions[0] not in at:
        raise RuntimeError(f"espeak-ng reported no start for the first word of {text!r}")
    loud = np.abs(audio) > 0.01
    audio = audio[: int(np.nonzero(loud)[0][-1]) + 1] if loud.any() else audio[:0]
    untimed = [i for i, pos in enumerate(positions) if pos not in at]
    starts = [at.get(pos) for pos in positions]
    for i in untimed:  # spoken with the word before: that unit's start
        starts[i] = starts[i - 1]
    timed = []
    for i, (word, a) in enumerate(zip(words, starts, strict=True)):
        b = next((x for x in starts[i + 1 :] if x > a), len(audio))
        hits = np.nonzero(loud[a:b])[0]
        end = a + int(hits[-1]) + 1 if len(hits) else b
        timed.append((word, a / RATE, end / RATE))
    return audio, timed, untimed


def speech_track(
    lines: list[tuple[float, str]], duration: float, mode: str = "sentences"
) -> tuple[np.ndarray, list[SpokenLine]]:
    """The audio of ``lines`` (``(t_start, sentence)``) over ``duration`` seconds, and their word times.

    Args:
        lines: ``(t_start seconds, sentence)``.
        duration: seconds of audio.
        mode: ``sentences`` (each synthesised whole) or ``words`` (word by word, ``WORD_GAP`` apart).

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
        if mode == "sentences":
            samples, timed, untimed = speak_sentence(text)
            at = int(round(t * RATE))
            if at + len(samples) > len(audio):
                raise ValueError(f"line at {t_start} s runs past the end of the video ({duration} s)")
            audio[at : at + len(samples)] += samples
            line.words = [(w, round(t + a, 3), round(t + b, 3)) for w, a, b in timed]
            line.untimed = untimed
            spoken.append(line)
            busy_until = t + len(samples) / RATE
            continue
        if mode != "words":
            raise ValueError(f"mode must be 'sentences' or 'words', got {mode!r}")
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
    mode: str = "sentences",
) -> SpeechManifest:
    """Writes an MP4 with ``sample_video``'s picture and ``lines`` spoken at their times.

    Args:
        path: output ``.mp4``.
        lines: ``(t_start seconds, sentence)``; words are separated by spaces.
        duration: seconds.
        snr_db: add white noise at this signal-to-noise ratio; None for clean speech.
        fps, size, seed, burn_text: the picture, as in ``make_sample_video``.
        mode: ``sentences`` (synthesised whole) or ``words`` (word by word), see ``speech_track``.

    Returns:
        The manifest (also saved as ``<stem>.speech.json`` beside the video).
    """
    from demos.sample_video import make_sample_video

    check_tools()
    path = Path(path)
    audio, spoken = speech_track(lines, duration, mode)
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
