"""``vidmem bench ask``: wall time, CPU time and peak RSS of a cold ``vidmem ask`` process.

A cold ask is a new process that loads what it needs and answers one question, as a user typing
``vidmem ask STORE "..."`` gets it. Goals (issue 6): a text question on an indexed store answers in
<= 1 s wall and <= 400 MB RSS. Each figure is the median of ``repeats`` runs after one untimed
run (which compiles bytecode and fills the page cache); CPU seconds are printed beside wall
seconds because wall time on a shared machine mostly measures the neighbours; the wall and CPU
time of a bare ``python -c "import numpy"`` in the same run show how busy the cores were.

``--before DIR`` times another checkout of vidmem (e.g. ``git archive`` of an older commit) in the
same run, interleaved with this one, so the before/after ratio is measured under the same load.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
HEAVY_MODULES = ("torch", "transformers", "sentence_transformers", "open_clip", "onnxruntime", "tokenizers", "cv2")
GOALS = {"text_wall_s": 1.0, "text_rss_mb": 400.0}
TEXT_QUESTION = "when does the crowd cheer"
IMAGE_SECOND = 25.0

# Runs the CLI, then reports which heavy libraries the process imported and its peak RSS (stderr, last
# line). The peak is VmHWM, this process's own high-water mark: rusage's ru_maxrss of a child started
# by vfork+exec also counts the parent's resident size at the exec (Linux keeps the larger of the two).
_PROBE = """
import json, sys
from vidmem.cli import main
HEAVY = HEAVY_LIST
code = main(sys.argv[1:])
loaded = [m for m in HEAVY if m in sys.modules]
hwm = next(line for line in open("/proc/self/status") if line.startswith("VmHWM:")).split()[1]
sys.stderr.write("\\nvidmem-probe " + json.dumps({"rc": code, "modules": loaded, "rss_mb": int(hwm) / 1024}) + "\\n")
sys.exit(code)
""".replace("HEAVY_LIST", repr(HEAVY_MODULES))


def cold_ask(
    store: Path, question: str = "", image: Path | None = None, code: Path = REPO_ROOT, env: dict | None = None
) -> dict[str, Any]:
    """Runs ``vidmem ask STORE QUESTION [--image IMAGE] --json`` in a new process of the checkout ``code``.

    Returns:
        ``{"wall_s", "cpu_s", "rss_mb", "modules": heavy libraries it imported, "answer": its JSON}``.

    Raises:
        RuntimeError: the ask failed (its last stderr lines are in the message).
    """
    argv = ["ask", str(store), question, "--json"] + (["--image", str(image)] if image else [])
    full_env = {**os.environ, "PYTHONPATH": str(code), **(env or {})}
    rc, wall, usage, stdout, stderr = _timed([sys.executable, "-c", _PROBE, *argv], code, full_env)
    probe = [line for line in stderr.splitlines() if line.startswith("vidmem-probe ")]
    if rc != 0 or not probe:
        raise RuntimeError(f"vidmem ask failed ({rc}): {stderr.strip()[-800:]}")
    return {
        "wall_s": round(wall, 3),
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 3),
        "rss_mb": round(json.loads(probe[-1].split(" ", 1)[1])["rss_mb"], 1),
        "modules": json.loads(probe[-1].split(" ", 1)[1])["modules"],
        "answer": json.loads(stdout.strip().splitlines()[-1]),
    }


def _timed(cmd: list[str], cwd: Path, env: dict) -> tuple[int, float, Any, str, str]:
    """Runs ``cmd``; returns (exit code, wall seconds, its own rusage, stdout, stderr)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=out, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)  # wait4: this child's own CPU time (its RSS: the probe)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return proc.returncode, wall, usage, out.read().decode(), err.read().decode()


def oversized_png(path: Path, side: int = 32768) -> Path:
    """A valid ~100-byte PNG whose header declares ``side`` x ``side`` pixels (3 GB of RGB if decoded)."""
    import struct
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)  # 8-bit RGB
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")
    )
    return path


def reject_oversized(store: Path, image: Path, code: Path = REPO_ROOT) -> dict[str, Any]:
    """Times a cold ``vidmem ask STORE "" --image IMAGE`` that must refuse ``image`` (a declared-size bomb).

    Raises:
        RuntimeError: the ask did not fail, or failed without naming the declared size.
    """
    argv = ["ask", str(store), "", "--json", "--image", str(image)]
    env = {**os.environ, "PYTHONPATH": str(code)}
    rc, wall, usage, _, stderr = _timed([sys.executable, "-c", _PROBE, *argv], code, env)
    probe = [line for line in stderr.splitlines() if line.startswith("vidmem-probe ")]
    if rc == 0 or "declares" not in stderr or not probe:  # a refusal names the size; anything else is a failure
        raise RuntimeError(f"oversized image was not refused by its header ({rc}): {stderr.strip()[-400:]}")
    return {"wall_s": round(wall, 3), "cpu_s": round(usage.ru_utime + usage.ru_stime, 3),
            "rss_mb": round(json.loads(probe[-1].split(" ", 1)[1])["rss_mb"], 1)}  # fmt: skip


def python_floor() -> dict[str, float]:
    """Wall and CPU seconds of ``python -c "import numpy"``: what any cold ask pays, and how busy the CPU is."""
    _, wall, usage, _, _ = _timed([sys.executable, "-c", "import numpy"], REPO_ROOT, dict(os.environ))
    return {"wall_s": round(wall, 3), "cpu_s": round(usage.ru_utime + usage.ru_stime, 3)}


def build_store(work: Path, generate: Callable[..., Any], code: Path = REPO_ROOT) -> tuple[Path, Path]:
    """A 60 s generated video with subtitles, indexed (classical + MiniLM) by ``code``; returns (store, image).

    The image is the video's frame at ``IMAGE_SECOND``.
    """
    video = work / "ask-bench.mp4"
    if not video.is_file():
        manifest = generate(video, duration=60.0, fps=10.0, size=(640, 360))
        video.with_suffix(".srt").write_text(manifest.to_srt())
    store = work / f"store-{code.name or 'root'}"
    # --reindex: a store left in --work by another version of the code may hold other settings
    cmd = [sys.executable, "-m", "vidmem.cli", "index", str(video), "--store", str(store), "--no-ocr", "--reindex"]
    done = subprocess.run(cmd, cwd=code, env={**os.environ, "PYTHONPATH": str(code)}, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"indexing with {code} failed: {done.stderr.strip()[-800:]}")
    return store, _frame_at(video, IMAGE_SECOND, work / "ask-bench-frame.png")


def _frame_at(video: Path, second: float, out: Path) -> Path:
    import cv2

    capture = cv2.VideoCapture(str(video))
    capture.set(cv2.CAP_PROP_POS_MSEC, second * 1000)
    ok, frame = capture.read()
    capture.release()
    if not ok:
        raise RuntimeError(f"cannot read a frame of {video} at {second} s")
    cv2.imwrite(str(out), frame)
    return out


def run(
    work: Path,
    generate: Callable[..., Any],
    repeats: int = 3,
    before: Path | None = None,
    question: str = TEXT_QUESTION,
) -> dict[str, Any]:
    """Times cold text and image asks on this checkout (and ``before``, interleaved); returns the figures."""
    trees = {"after": REPO_ROOT} | ({"before": before.resolve()} if before else {})
    stores = {name: build_store(work, generate, code) for name, code in trees.items()}
    kinds = {"text": (question, None), "image": ("", "image")}
    runs: dict[str, dict[str, list]] = {name: {kind: [] for kind in kinds} for name in trees}
    floor, rejects = [], []
    bomb = oversized_png(work / "ask-bench-32768x32768.png")
    for i in range(repeats + 1):  # run 0 is the untimed warm-up
        floor.append(python_floor())
        for kind, (q, wants_image) in kinds.items():
            for name, code in trees.items():
                store, image = stores[name]
                result = cold_ask(store, q, image if wants_image else None, code)
                if i > 0:
                    runs[name][kind].append(result)
        reject = reject_oversized(stores["after"][0], bomb)
        if i > 0:
            rejects.append(reject)
    result: dict[str, Any] = {name: {kind: _summary(r) for kind, r in per.items()} for name, per in runs.items()}
    result["goals"] = GOALS
    # wall / CPU of a bare `import numpy` in the same minutes: ~1 on an idle machine, 4-5 when the cores are shared
    result["python_numpy_floor"] = {
        f: round(statistics.median(r[f] for r in floor[1:]), 3) for f in ("wall_s", "cpu_s")
    }
    # time to refuse a PNG declaring 32768x32768 pixels (decoding it would need 3 GB): header check only
    result["oversized_image_reject"] = {
        f: round(statistics.median(r[f] for r in rejects), 3) for f in ("wall_s", "cpu_s")
    } | {"rss_mb": max(r["rss_mb"] for r in rejects), "declared": "32768x32768"}
    if before:
        result["ratio_before_over_after"] = {
            kind: {
                f: round(result["before"][kind][f] / result["after"][kind][f], 2) for f in ("wall_s", "cpu_s", "rss_mb")
            }
            for kind in kinds
        }
    return result


def _summary(results: list[dict]) -> dict[str, Any]:
    return {
        "wall_s": round(statistics.median(r["wall_s"] for r in results), 3),
        "cpu_s": round(statistics.median(r["cpu_s"] for r in results), 3),
        "rss_mb": max(r["rss_mb"] for r in results),
        "modules": results[-1]["modules"],
        "answer": results[-1]["answer"]["answer"],
        "runs": len(results),
    }


def run_cli(args, generate: Callable[..., Any]) -> dict[str, Any]:
    """``vidmem bench ask`` entry: ``generate`` is ``demos.sample_video.make_sample_video``."""
    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="vidmem-bench-ask-"))
    work.mkdir(parents=True, exist_ok=True)
    result = run(work, generate, repeats=args.repeats, before=Path(args.before) if args.before else None)
    if not args.json:
        for name in ("before", "after"):
            for kind, fig in result.get(name, {}).items():
                print(f"{name:<7} {kind:<6} wall {fig['wall_s']:.2f} s  cpu {fig['cpu_s']:.2f} s  "
                      f"rss {fig['rss_mb']:.0f} MB  loads {','.join(fig['modules']) or '-'}")  # fmt: skip
        bomb = result["oversized_image_reject"]
        print(f"reject  --image {bomb['declared']} PNG: wall {bomb['wall_s']:.2f} s  cpu {bomb['cpu_s']:.2f} s  "
              f"rss {bomb['rss_mb']:.0f} MB")  # fmt: skip
        floor = result["python_numpy_floor"]
        print(
            f"floor   python -c 'import numpy': wall {floor['wall_s']:.2f} s  cpu {floor['cpu_s']:.2f} s (contention)"
        )
        print(f"goals   text wall <= {GOALS['text_wall_s']} s, rss <= {GOALS['text_rss_mb']:.0f} MB")
    return result
