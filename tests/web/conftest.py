"""Web-app fixtures: an indexed sample video (subtitles as its text channel) and a live server."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def indexed(sample_video, tmp_path_factory):
    """``(store_dir, video, manifest)``: a 60 s sample video indexed with its subtitles, no OCR/speech."""
    from vidmem.ingest import IngestConfig, index_video

    video, manifest = sample_video(duration=60.0, fps=5.0)
    folder = tmp_path_factory.mktemp("web")
    srt = folder / "captions.srt"
    srt.write_text(manifest.to_srt())
    store = folder / "store"
    config = IngestConfig(
        ocr=False, speech=False, subtitles=(str(srt),), embedded_subtitles=False, auto_subtitles=False
    )
    index_video(video, store, config)
    return store, video, manifest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(url: str, proc: subprocess.Popen, deadline_s: float = 120.0) -> None:
    """Polls ``/healthz`` until it answers (or the server exits, or the deadline passes)."""
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"server exited with {proc.returncode}: {proc.stderr.read()[-2000:]}")
        try:
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"{url}/healthz did not answer within {deadline_s} s")


def start_server(args: list[str], log: Path) -> tuple[str, subprocess.Popen]:
    """Runs ``vidmem ARGS --port P`` in a subprocess; returns its base URL once healthy."""
    port = free_port()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "vidmem.cli", *args, "--port", str(port)],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=log.open("w"), text=True,
    )  # fmt: skip
    proc.stderr = log.open()  # read back by wait_healthy when the server dies
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, proc)
    except BaseException:
        proc.kill()
        raise
    return url, proc


def stop_server(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
