"""``vidmem webcam --source browser`` in a real headless Chromium whose fake camera plays a known clip."""

from __future__ import annotations

import io

import httpx
import numpy as np
import pytest
from PIL import Image

from demos.sample_video import render_frame
from tests.web.browser import chromium, poll
from tests.web.conftest import start_server, stop_server
from tests.web.fake_camera import fake_camera_clip

pytestmark = pytest.mark.slow
SCENE_SECONDS = 4.0


def test_the_page_streams_the_camera_and_answers_when_a_scene_was_seen(tmp_path):
    from selenium.webdriver.common.by import By

    manifest = fake_camera_clip(tmp_path / "camera.y4m", scenes=3, scene_seconds=SCENE_SECONDS)
    period = manifest.duration  # Chromium loops the clip
    store = tmp_path / "store"
    args = ["webcam", "--source", "browser", "--store", str(store), "--no-ocr", "--fps", "2", "--clip-seconds", "1"]
    url, server = start_server(args, tmp_path / "server.log")
    driver = chromium(tmp_path / "profile", fake_camera=tmp_path / "camera.y4m")
    try:
        driver.get(url)

        def seen_seconds() -> float:
            live = httpx.get(f"{url}/api/live", timeout=5).json()
            return live["stream_time"] if live["clips"] >= 2 else 0.0

        poll(lambda: seen_seconds() > period + 2, 90, "a full loop of the camera clip to be written")
        poll(lambda: driver.find_elements(By.CSS_SELECTOR, ".row.thumbs .thumb"), 30, "timeline thumbnails")
        scene = manifest.scenes[1]
        query = tmp_path / "scene.png"
        Image.fromarray(render_frame(manifest, scene.t_start + SCENE_SECONDS / 2)).save(query)
        # an image alone: the first evidence is the clip whose frame matches it best
        driver.find_element(By.ID, "image").send_keys(str(query))
        driver.find_element(By.ID, "ask-button").click()
        answer = driver.find_element(By.ID, "answer")
        poll(lambda: answer.get_attribute("data-state") in ("answered", "error"), 60, "the answer")
        assert answer.get_attribute("data-state") == "answered", answer.text
        t1 = float(driver.find_element(By.CSS_SELECTOR, ".evidence-item.first").get_attribute("data-t-start"))
        # The camera starts playing a moment before its first frame reaches the server, so stream
        # time 0 is not clip time 0: check the answer against the next scene's answer, and the
        # picture remembered at the answer's time against the scenes.
        t2 = _ask_image(url, render_frame(manifest, manifest.scenes[2].t_start + SCENE_SECONDS / 2))
        # Each answer may be any clip of its 4 s scene, so the next scene's answer comes 0-8 s later.
        gap = (t2 - t1) % period
        assert 0 < gap < 2 * SCENE_SECONDS, (t1, t2, gap)
        # the keyframe taken last by the end of the answer's clip shows the asked scene
        near = {"from": max(0.0, t1 - SCENE_SECONDS), "to": t1 + 1.0}
        items = httpx.get(f"{url}/api/timeline", params=near).json()["items"]
        keyframe = [i for i in items if i["kind"] == "visual" and i["t_start"] <= t1 + 1.0][-1]
        assert _closest_scene(manifest, httpx.get(f"{url}{keyframe['keyframe_url']}", timeout=5).content) == 1
        status = driver.find_element(By.ID, "live-status").text
        assert "browser" in status and "running" in status
        feed = httpx.get(f"{url}/api/live/frame.jpg", timeout=5)
        assert feed.status_code == 200 and Image.open(io.BytesIO(feed.content)).size == (320, 180)
        driver.save_screenshot(str(tmp_path / "webcam.png"))
    finally:
        driver.quit()
        stop_server(server)
    # the browser went away and the server stopped: what was written stays in the store
    from vidmem.storage.store import MemoryStore

    with MemoryStore(store, read_only=True) as s:
        assert s.count("episodic", "clip") >= period


def _ask_image(url: str, rgb) -> float:
    png = io.BytesIO()
    Image.fromarray(rgb).save(png, format="PNG")
    answer = httpx.post(f"{url}/api/ask", files={"image": ("q.png", png.getvalue(), "image/png")}, timeout=60)
    return answer.json()["evidence"][0]["t_start"]


def _closest_scene(manifest, jpeg: bytes) -> int:
    """The scene whose middle frame looks most like ``jpeg`` (mean absolute difference at 64x36)."""
    seen = np.asarray(Image.open(io.BytesIO(jpeg)).convert("RGB").resize((64, 36)), np.float32)
    scores = []
    for scene in manifest.scenes:
        frame = Image.fromarray(render_frame(manifest, scene.t_start + SCENE_SECONDS / 2)).resize((64, 36))
        scores.append(np.abs(np.asarray(frame, np.float32) - seen).mean())
    return int(np.argmin(scores))
