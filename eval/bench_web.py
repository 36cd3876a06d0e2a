"""``vidmem bench web``: the web app's figures on this CPU.

1. Warm question latency through the API: ``vidmem serve`` on an indexed generated hour (the one
   ``vidmem bench agent`` makes and keeps under ``--work``), every question of that benchmark sent
   over HTTP ``--repeats`` times after one warm-up request; p50/p99 of text questions and of all.
2. The cold CLI for comparison: ``vidmem ask STORE QUESTION --json`` as a new process, a few times.
3. Live ingest rate: a file source read as fast as it decodes through the live pipeline (the
   same one ``webcam`` runs) for ``--live-seconds``: frames sampled and written per second.
4. RSS over a long looping source: ``vidmem webcam --source FILE --loop --realtime`` for
   ``--soak-minutes``, its RSS read from ``/api/live`` every ``--soak-every`` seconds.
"""

from __future__ import annotations

import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "OMP_NUM_THREADS": "1"}


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _server(args: list[str], log: Path, deadline_s: float = 300.0) -> tuple[str, subprocess.Popen]:
    """``vidmem ARGS`` on a free port; returns its URL once ``/healthz`` answers."""
    import httpx

    port = _port()
    cmd = [sys.executable, "-m", "vidmem.cli", *args, "--port", str(port)]
    proc = subprocess.Popen(cmd, env=ENV, stdout=subprocess.DEVNULL, stderr=log.open("w"))
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: {log.read_text()[-500:]}")
        try:
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                return url, proc
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    proc.kill()
    raise RuntimeError(f"server did not answer within {deadline_s} s")


def _stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()


def _percentiles(ms: list[float]) -> dict[str, float]:
    ms = sorted(ms)
    return {
        "n": len(ms),
        "p50_ms": round(statistics.median(ms), 1),
        "p99_ms": round(ms[min(len(ms) - 1, round(0.99 * (len(ms) - 1)))], 1),
    }


def api_latency(store: Path, asked: list, repeats: int, log: Path) -> dict[str, Any]:
    """p50/p99 of questions through ``POST /api/ask`` on a warm ``vidmem serve``."""
    import io

    import httpx
    from PIL import Image

    url, proc = _server(["serve", str(store)], log)
    try:
        with httpx.Client(base_url=url, timeout=120) as client:
            client.post("/api/ask", json={"question": "warm up the first request"})
            text_ms, all_ms = [], []
            for question, image in asked:
                for _ in range(repeats):
                    start = time.perf_counter()
                    if image is None:
                        got = client.post("/api/ask", json={"question": question})
                    else:
                        png = io.BytesIO()
                        Image.fromarray(image).save(png, format="PNG")
                        got = client.post("/api/ask", files={"image": ("q.png", png.getvalue(), "image/png")})
                    ms = 1000 * (time.perf_counter() - start)
                    if got.status_code != 200:
                        raise RuntimeError(f"{question!r}: {got.text}")
                    all_ms.append(ms)
                    if image is None:
                        text_ms.append(ms)
    finally:
        _stop(proc)
    return {"text": _percentiles(text_ms), "all": _percentiles(all_ms)}


def cold_cli(store: Path, question: str, runs: int) -> dict[str, Any]:
    """Wall seconds of ``vidmem ask STORE QUESTION --json`` as a new process."""
    seconds = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "vidmem.cli", "ask", str(store), question, "--json"],
            env=ENV, check=True, capture_output=True,
        )  # fmt: skip
        seconds.append(time.perf_counter() - start)
    return {"runs": runs, "median_s": round(statistics.median(seconds), 2), "min_s": round(min(seconds), 2)}


def live_rate(video: Path, seconds: float, ocr: bool, work: Path) -> dict[str, Any]:
    """Frames per second through the live pipeline (fps 1, 2 s clips), reading a file at full speed."""
    import shutil

    from vidmem.live_ingest import LiveConfig
    from vidmem.web.live import LiveSession

    store = work / f"live_rate_{'ocr' if ocr else 'no_ocr'}"
    shutil.rmtree(store, ignore_errors=True)
    live = LiveSession(store, LiveConfig(ocr=ocr), loop=True, realtime=False)
    start = time.perf_counter()
    live.start(str(video))
    time.sleep(seconds)  # a fixed measuring window, not a wait for a server
    status = live.status()
    live.stop()
    wall = time.perf_counter() - start
    return {
        "ocr": ocr, "wall_s": round(wall, 1), "frames_sampled": status["frames"], "clips": status["clips"],
        "sampled_frames_per_s": round(status["frames"] / wall, 2),
        "decoded_frames_per_s": round(status["frames_read"] / wall, 1),
        "stream_seconds_per_wall_second": round(status["stream_time"] / wall, 2), "state": status["state"],
    }  # fmt: skip


def soak_rss(video: Path, minutes: float, every: float, work: Path) -> dict[str, Any]:
    """RSS of ``vidmem webcam --source FILE --loop --realtime`` over ``minutes``."""
    import shutil

    import httpx

    store = work / "soak_store"
    shutil.rmtree(store, ignore_errors=True)
    args = ["webcam", "--source", str(video), "--loop", "--realtime", "--store", str(store)]
    url, proc = _server(args, work / "soak.log")
    samples = []
    try:
        end = time.monotonic() + 60 * minutes
        while time.monotonic() < end:
            s = httpx.get(f"{url}/api/live", timeout=30).json()
            samples.append({"t_s": round(s["stream_time"], 1), "rss_mb": round(s["rss_bytes"] / 1e6, 1),
                            "store_mb": round(s["memory_bytes"] / 1e6, 2), "clips": s["clips"]})  # fmt: skip
            time.sleep(every)  # sampling period of the soak, not a wait for a server
    finally:
        _stop(proc)
    after_first = [x["rss_mb"] for x in samples if x["t_s"] >= 120] or [samples[-1]["rss_mb"]]
    return {
        "minutes": minutes, "samples": samples, "rss_mb_first": samples[0]["rss_mb"],
        "rss_mb_at_2min": after_first[0], "rss_mb_last": samples[-1]["rss_mb"], "rss_mb_max": max(after_first),
    }  # fmt: skip


def run_cli(args, make_video) -> dict[str, Any]:
    """Entry point of ``vidmem bench web``."""
    import tempfile

    from eval.bench_agent import hour_inputs, questions
    from vidmem.ingest import IngestConfig, index_video

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(args.work or tmp)
        video, manifest, store = hour_inputs(work, args.minutes, make_video)
        index_video(video, store, IngestConfig())  # kept under --work: later runs reuse it
        asked = questions(manifest)
        out: dict[str, Any] = {"video_minutes": args.minutes}
        out["api_warm"] = api_latency(store, asked, args.repeats, work / "serve.log")
        out["cli_cold"] = cold_cli(store, asked[0][0], args.cold_runs)
        out["live_ingest"] = [live_rate(video, args.live_seconds, ocr, work) for ocr in (False, True)]
        if args.soak_minutes > 0:
            out["soak"] = soak_rss(video, args.soak_minutes, args.soak_every, work)
    if not args.json:
        warm = out["api_warm"]
        print(
            f"API warm (text)  p50 {warm['text']['p50_ms']} ms  p99 {warm['text']['p99_ms']} ms  n={warm['text']['n']}"
        )
        print(f"API warm (all)   p50 {warm['all']['p50_ms']} ms  p99 {warm['all']['p99_ms']} ms  n={warm['all']['n']}")
        print(f"CLI cold         median {out['cli_cold']['median_s']} s")
        for r in out["live_ingest"]:
            print(f"live ingest ocr={r['ocr']}: {r['sampled_frames_per_s']} sampled frames/s")
        if "soak" in out:
            s = out["soak"]
            rss = f"{s['rss_mb_first']} -> {s['rss_mb_at_2min']} (2 min) -> {s['rss_mb_last']} MB"
            print(f"soak {s['minutes']} min: RSS {rss}")
    return out
