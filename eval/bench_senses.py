"""``vidmem bench senses``: speech and scene-text figures, and what they cost an ingest.

- speech: espeak-ng sentences (every word's time known, see ``demos.speech_video``) transcribed
  clean and at 10 dB SNR: WER, speed (x real time on one thread), word starts within 0.25 s;
- scene text: rapidocr against the former Tesseract reader (``eval.ocr_baseline``, when the
  ``tesseract`` program is installed) on generated signs (24-72 px, colours, tilt, blur, no plate,
  plate numbers) and on the real videos' frames (labels in ``eval/data/scene_text_real.json``):
  word recall, junk words per text-free frame, milliseconds per frame; OCR CPU-s per video-hour;
- ingest: a generated video with speech and signs indexed with the defaults (speech and OCR on)
  in a child process: ingest / pure-decode speed, stored bytes per video-hour, peak RSS.

Ratios are measured within one run (the machine is shared and noisy). The generators come from
``demos`` and are handed in by the CLI, the one place allowed to import it.
"""

from __future__ import annotations

import difflib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from vidmem.text.numbers import cardinal, clock

SENTENCES = [
    "The old man walked to the market to buy fresh bread",
    "Please turn off the lights when you leave the room",
    "The children played football in the park after school",
    "She opened the window to let in some fresh air",
    "We will meet at the train station tomorrow morning",
    "The doctor said the patient needs plenty of rest",
    "A large ship sailed slowly into the harbor",
    "He forgot his keys on the kitchen table again",
    "The weather will be cold and windy this weekend",
    "Our team won the match in the last minute",
    "The teacher asked the students to read the first chapter",
    "My sister bought a new car last summer",
    "The museum opens at ten and closes in the evening",
    "They planted apple trees along the garden wall",
    "The pilot announced that the plane would land soon",
    "Water the plants every morning before work",
    "The dog barked loudly at the mail carrier",
    "Remember to bring your passport to the airport",
    "The restaurant was full so we ate at home",
    "The river flows through the middle of the town",
]
HELD_OUT = [
    "The farmer drove his tractor across the muddy field",
    "Could you pass me the salt and pepper please",
    "The library closes early on public holidays",
    "A small bird built a nest under the roof",
    "The engineer fixed the broken pump this afternoon",
    "Turn left at the bridge and follow the river",
    "The baker wakes up before the sun rises",
    "Her brother plays the violin in an orchestra",
    "The storm knocked down several trees last night",
    "Put the groceries in the fridge before they spoil",
    "The nurse checked the blood pressure of every patient",
    "We watched the fireworks from the hill",
    "The bus was late because of the heavy traffic",
    "He painted the fence white over the weekend",
    "The students cleaned the classroom after the party",
    "Keep the door closed so the cat stays inside",
    "The mechanic changed the oil and checked the brakes",
    "Fresh snow covered the mountains in the morning",
    "The manager signed the contract before lunch",
    "Grandmother told us a story about her village",
]
"""Sentences never used to choose a speech setting: the held-out half of the benchmark."""
REAL_LABELS = Path(__file__).parent / "data" / "scene_text_real.json"

# Peak RSS is the child's own VmHWM: ru_maxrss of a vfork+exec child also counts the bench's size at
# the exec (both settings read 855.9 MB, the bench's own peak after its speech and OCR figures).
_RSS_CHILD = """
import json, resource, sys, time
from vidmem.ingest import IngestConfig, index_video
t = time.perf_counter()
r = index_video(sys.argv[1], sys.argv[2], IngestConfig(**json.loads(sys.argv[3])))
u = resource.getrusage(resource.RUSAGE_SELF)
hwm = next(line for line in open("/proc/self/status") if line.startswith("VmHWM:")).split()[1]
print(json.dumps({"seconds": time.perf_counter() - t, "cpu_seconds": u.ru_utime + u.ru_stime,
                  "rss_mb": int(hwm) / 1024, "entries": r.entries}))
"""


# --- speech ---------------------------------------------------------------------------------------


def spoken_lines(sentences: list[str], start: float = 1.0, gap: float = 2.0) -> tuple[list[tuple[float, str]], float]:
    """``(t_start, sentence)`` laid end to end (about 0.45 s a word) with ``gap`` seconds between."""
    lines, t = [], start
    for sentence in sentences:
        lines.append((round(t, 2), sentence))
        t += 0.45 * len(sentence.split()) + gap + 1.0
    return lines, t + 1.0


def words_of(text: str) -> list[str]:
    """Lower-case words for WER, numbers spelled out: bracketed number forms, punctuation and case removed.

    Whisper writes numbers it hears as digits ("10", "7:15"); the reference spells them ("ten",
    "seven fifteen"): both sides go through this function, so "10" and "ten" count as the same word.
    """
    text = re.sub(r"\[[^\]]*\]", " ", text).lower()
    text = re.sub(r"\b(\d{1,2}):(\d{2})\b", lambda m: f" {clock(int(m[1]), int(m[2]))} ", text)
    text = re.sub(r"(?<=\d),(?=\d{3}\b)", "", text)
    text = re.sub(r"\b\d{1,9}\b", lambda m: f" {cardinal(int(m[0]))} ", text)
    return re.findall(r"[a-z0-9']+", text)


def word_errors(reference: list[str], hypothesis: list[str]) -> int:
    """Levenshtein distance over words (substitutions + insertions + deletions)."""
    row = list(range(len(hypothesis) + 1))
    for i, r in enumerate(reference, 1):
        prev, row[0] = row[0], i
        for j, h in enumerate(hypothesis, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (r != h))
    return row[-1]


def start_errors(truth: list[tuple[str, float | None]], heard: list[tuple[str, float]]) -> np.ndarray:
    """Start-time errors (s) of the words heard right, aligned in order with the truth.

    Truth words whose start is None (not known) take part in the alignment but not in the errors.
    """
    match = difflib.SequenceMatcher(a=[w for w, _ in truth], b=[w for w, _ in heard], autojunk=False)
    pairs = [(truth[b.a + k][1], heard[b.b + k][1]) for b in match.get_matching_blocks() for k in range(b.size)]
    return np.array([h - t for t, h in pairs if t is not None])


def speech_figures(
    make_speech_video: Callable[..., Any],
    work: Path,
    sentences: list[str],
    modes: tuple[str, ...] = ("sentences", "words"),
) -> dict[str, Any]:
    """WER, speed (model load included, ~1 s) and word-start accuracy, clean and at 10 dB SNR.

    Measured on ``sentences`` (the set the settings were chosen on) and on as many ``HELD_OUT``
    sentences (never used to choose anything), each in every generator mode: ``sentences``
    (synthesised whole, espeak-ng's word events as starts) and ``words`` (one word at a time).
    """
    out: dict[str, Any] = {"sentences": len(sentences)}
    for mode in modes:
        for set_name, chosen in (("tuning", sentences), ("held_out", HELD_OUT[: len(sentences)])):
            out[f"{mode}_{set_name}"] = _speech_set(make_speech_video, work / f"{mode}-{set_name}", chosen, mode)
    return out


def _speech_set(make_speech_video: Callable[..., Any], work: Path, sentences: list[str], mode: str) -> dict[str, Any]:
    from vidmem.text.speech import transcribe_video

    work.mkdir(parents=True, exist_ok=True)
    lines, duration = spoken_lines(sentences)
    out: dict[str, Any] = {}
    for name, snr in (("clean", None), ("snr_10db", 10.0)):
        manifest = make_speech_video(work / f"speech-{name}.mp4", lines, duration, snr_db=snr, mode=mode)
        wall, cpu = time.perf_counter(), time.process_time()
        spans = transcribe_video(manifest.path)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        truth = [
            (w, None if i in line.untimed else t0)
            for line in manifest.lines
            for i, (word, t0, _) in enumerate(line.words)
            for w in words_of(word)[:1]
        ]
        heard = [(w, t0) for s in spans for word, t0, _ in s.words for w in words_of(word)[:1]]
        errors = start_errors(truth, heard)
        reference = words_of(" ".join(line.text for line in manifest.lines))
        out[name] = {
            "speech_seconds": round(sum(line.t_end - line.t_start for line in manifest.lines), 1),
            "video_seconds": round(duration, 1),
            "wer": round(word_errors(reference, words_of(" ".join(s.text for s in spans))) / len(reference), 4),
            "x_realtime_wall": round(duration / wall, 1),
            "x_realtime_cpu": round(duration / max(cpu, 1e-9), 1),
            "word_start_within_0.25s": round(float((np.abs(errors) <= 0.25).mean()), 4) if len(errors) else 0.0,
            "word_start_median_error_s": round(float(np.median(errors)), 3) if len(errors) else None,
            "word_start_median_abs_error_s": round(float(np.median(np.abs(errors))), 3) if len(errors) else None,
            "words_timed_aligned": f"{len(errors)}/{sum(t is not None for _, t in truth)}",
        }
    return out


# --- scene text -----------------------------------------------------------------------------------


def _tokens(text: str) -> list[str]:
    return re.findall(r"[A-Z0-9]+", text.upper())


def cpu_seconds() -> float:
    """CPU time of this process and its finished children (Tesseract runs as a child process)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def _timed(reader, images: list[np.ndarray]) -> tuple[list[str], float]:
    start = cpu_seconds()
    texts = [reader.read_text(image) for image in images]
    return texts, (cpu_seconds() - start) / max(1, len(images))


def _recall(expected: list[list[str]], texts: list[str]) -> float:
    found = total = 0
    for words, text in zip(expected, texts, strict=True):
        read = _tokens(text)
        want = [t for w in words for t in _tokens(w)]
        found += sum(min(want.count(t), read.count(t)) for t in set(want))
        total += len(want)
    return round(found / max(1, total), 4)


def readers() -> dict[str, Any]:
    """rapidocr as ingest runs it, and the Tesseract baseline when the program is installed."""
    from eval.ocr_baseline import TesseractOCR
    from vidmem.errors import TextInputError
    from vidmem.text.ocr import RapidOCRReader

    out: dict[str, Any] = {"rapidocr": RapidOCRReader()}
    tesseract = TesseractOCR()
    try:
        tesseract.check_available()
        out["tesseract"] = tesseract
    except TextInputError as exc:
        out["tesseract"] = str(exc)
    return out


def real_frames(videos: Path) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """The labelled frames of the real videos (key ``<stem>_<second>``) and the labels."""
    from vidmem.io import sample_frames

    labels = json.loads(REAL_LABELS.read_text())
    wanted = set(labels["text"]) | set(labels["text_free"])
    frames = {}
    for stem in sorted({k.rsplit("_", 1)[0] for k in wanted}):
        path = videos / f"{stem}.mp4"
        if not path.is_file():
            continue
        for frame in sample_frames(str(path), fps=1.0 / labels["every_seconds"], max_side=640):
            key = f"{stem}_{round(frame.t):03d}"
            if key in wanted:
                frames[key] = frame.image
    return frames, labels


def scene_text_figures(
    sign_frames: Callable[..., list], scene_frames: Callable[..., list], videos: Path | None, per_kind: int
) -> dict[str, Any]:
    """Recall, junk and cost per reader, on generated signs and (when given) the real videos."""
    from vidmem.text.ocr import likely_text

    signs = sign_frames(per_kind=per_kind, seed=0)
    free = scene_frames(4 * per_kind, seed=100)
    real, labels = real_frames(videos) if videos is not None else ({}, None)
    out: dict[str, Any] = {"generated": {"sign_frames": len(signs), "text_free_frames": len(free)}}
    out["generated"]["presence_test"] = {
        "passes_sign_frames": round(float(np.mean([likely_text(f.image) for f in signs])), 4),
        "passes_text_free_frames": round(float(np.mean([likely_text(f) for f in free])), 4),
    }
    for name, reader in readers().items():
        if isinstance(reader, str):
            out[name] = {"unavailable": reader}
            continue
        texts, sign_cost = _timed(reader, [f.image for f in signs])
        junk_texts, free_cost = _timed(reader, free)
        by_kind: dict[str, tuple[list, list]] = {}
        for frame, text in zip(signs, texts, strict=True):
            by_kind.setdefault(frame.kind, ([], []))[0].append(frame.words)
            by_kind[frame.kind][1].append(text)
        row: dict[str, Any] = {
            "word_recall": _recall([f.words for f in signs], texts),
            "recall_by_kind": {k: _recall(*by_kind[k]) for k in sorted(by_kind)},
            "junk_words_per_text_free_frame": round(float(np.mean([len(_tokens(t)) for t in junk_texts])), 3),
            "cpu_ms_per_sign_frame": round(sign_cost * 1000, 1),
            "cpu_ms_per_text_free_frame": round(free_cost * 1000, 1),
        }
        if real:
            row["real"] = _real_row(reader, real, labels)
        out[name] = row
    return out


def _real_row(reader, frames: dict[str, np.ndarray], labels: dict[str, Any]) -> dict[str, Any]:
    text_keys = [k for k in labels["text"] if k in frames]
    free_keys = [k for k in labels["text_free"] if k in frames]
    texts, cost = _timed(reader, [frames[k] for k in sorted(frames)])
    by_key = dict(zip(sorted(frames), texts, strict=True))
    return {
        "frames": len(frames),
        "word_recall": _recall([labels["text"][k] for k in text_keys], [by_key[k] for k in text_keys]),
        "junk_words_per_text_free_frame": round(float(np.mean([len(_tokens(by_key[k])) for k in free_keys])), 3),
        "cpu_ms_per_frame": round(cost * 1000, 1),
        "read": {k: by_key[k] for k in sorted(by_key) if by_key[k]},
    }


# --- ingest ---------------------------------------------------------------------------------------


def _index_child(video: Path, store: Path, settings: dict) -> dict[str, Any]:
    """Indexes ``video`` in a fresh process (so its peak RSS is the ingest's own)."""
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    child = subprocess.run(
        [sys.executable, "-c", _RSS_CHILD, str(video), str(store), json.dumps(settings)],
        capture_output=True, text=True, check=True, env=env,
    )  # fmt: skip
    return json.loads(child.stdout.strip().splitlines()[-1])


def ingest_figures(make_speech_video: Callable[..., Any], work: Path, minutes: float) -> dict[str, Any]:
    """Default ingests (speech and OCR on) of a generated video with speech and signs, against the
    same video with both off, each in a child process, and pure decoding in the same run."""
    from eval.bench_ingest import decode_only
    from vidmem.storage.usage import store_usage

    lines, _ = spoken_lines(SENTENCES * int(np.ceil(minutes * 60 / 100)), gap=3.0)
    duration = minutes * 60
    lines = [(t, s) for t, s in lines if t + 0.5 * len(s.split()) + 1 < duration]
    video = work / f"senses-{minutes:g}min.mp4"
    if not video.is_file():
        make_speech_video(video, lines, duration, fps=10.0, size=(640, 360), burn_text=True)
    out: dict[str, Any] = {"video_minutes": minutes}
    decode_n, decode_s = decode_only(video)
    for name, settings in (("speech_and_ocr", {}), ("neither", {"speech": False, "ocr": False})):
        store = work / f"store-senses-{name}"
        shutil.rmtree(store, ignore_errors=True)  # a store left by an earlier run would answer "already indexed"
        ran = _index_child(video, store, {**settings, "auto_subtitles": False})
        usage = store_usage(store)
        size = usage["total"]
        out[name] = {
            "ingest_wall_s": round(ran["seconds"], 1),
            "ingest_cpu_s": round(ran["cpu_seconds"], 1),
            "ingest_to_decode_ratio": round((duration / ran["seconds"]) / (decode_n / decode_s), 4),
            "cpu_s_per_video_hour": round(ran["cpu_seconds"] * 60 / minutes, 1),
            "stored_mb_per_video_hour": round(size / 1e6 * 60 / minutes, 2),
            # by component (SQLite tables as pages, entries' columns as payload): what the total is made of
            "stored_mb_per_video_hour_by_part": {k: round(v / 1e6 * 60 / minutes, 2) for k, v in usage.items()},
            "peak_rss_mb": round(ran["rss_mb"], 1),
            "entries": ran["entries"],
        }
    out["decode_wall_s"] = round(decode_s, 2)
    out["keyframes_per_hour"] = round(out["speech_and_ocr"]["entries"].get("visual", 0) * 60 / minutes, 1)
    return out


def run(args, make_speech_video, sign_frames, scene_frames) -> dict[str, Any]:
    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="vidmem-senses-"))
    work.mkdir(parents=True, exist_ok=True)
    result: dict[str, Any] = {}
    parts = set(args.parts.split(","))
    if "speech" in parts:
        result["speech"] = speech_figures(make_speech_video, work, SENTENCES[: args.sentences])
    if "ocr" in parts:
        videos = Path(args.videos) if args.videos else None
        result["scene_text"] = scene_text_figures(sign_frames, scene_frames, videos, args.per_kind)
    if "ingest" in parts:
        result["ingest"] = ingest_figures(make_speech_video, work, args.minutes)
        rapid = result.get("scene_text", {}).get("rapidocr", {}).get("real", {})
        if rapid:
            cost = rapid["cpu_ms_per_frame"] / 1000 * result["ingest"]["keyframes_per_hour"]  # keyframes only are read
            result["ingest"]["ocr_cpu_s_per_video_hour_real_frames"] = round(cost, 1)
    return result


def run_cli(args, make_speech_video, sign_frames, scene_frames) -> dict[str, Any]:
    result = run(args, make_speech_video, sign_frames, scene_frames)
    if not args.json:
        print(json.dumps(result, indent=1))
    return result
