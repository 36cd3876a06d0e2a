"""``vidmem webcam --source FILE --store DIR`` as a process: it remembers, keeps serving, and a restart continues."""

from __future__ import annotations

import io

import httpx
from PIL import Image

from demos.sample_video import render_frame
from tests.web.browser import poll
from tests.web.conftest import start_server, stop_server


def test_webcam_on_a_file_keeps_serving_after_the_end_and_a_restart_continues(sample_video, tmp_path):
    video, manifest = sample_video(duration=20.0, fps=5.0, seed=21)
    args = ["webcam", "--source", str(video), "--store", str(tmp_path / "store"), "--no-ocr"]
    ends = []
    for run in range(2):
        url, server = start_server(args, tmp_path / f"server{run}.log")
        try:
            live = poll(lambda u=url: _ended(u), 120, "the file source to end")
            assert live["error"] == "" and live["clips"] == 10
            items = httpx.get(f"{url}/api/timeline", params={"limit": 2000}).json()["items"]
            ends.append(max(i["t_end"] for i in items if i["kind"] == "episodic@clip"))
            scene = manifest.scenes[1]
            png = io.BytesIO()
            Image.fromarray(render_frame(manifest, scene.t_start + 5)).save(png, format="PNG")
            answer = httpx.post(f"{url}/api/ask", files={"image": ("q.png", png.getvalue())}, timeout=60).json()
            times = [e["t_start"] for e in answer["evidence"]]
            assert any(scene.t_start - 1 + 20 * run <= t < scene.t_end + 20 * run for t in times), times
            assert httpx.get(f"{url}/healthz").json()["live"] is True
        finally:
            stop_server(server)
    assert ends == [20.0, 40.0]  # the second run's memories follow the first run's


def _ended(url: str):
    live = httpx.get(f"{url}/api/live", timeout=5).json()
    return live if live["state"] in ("ended", "error") else None
