"""``webcam``'s live session without a browser: file, loop, restart, a dead camera, pushed frames."""

from __future__ import annotations

import io
import time

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from demos.sample_video import render_frame
from vidmem.live_ingest import LiveConfig
from vidmem.storage.store import MemoryStore
from vidmem.web.app import create_app
from vidmem.web.live import LiveSession
from vidmem.web.stores import StoreHandle

CONFIG = LiveConfig(ocr=False)


def _until(check, deadline_s: float, what: str):
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if value := check():
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {deadline_s} s waiting for {what}")


def _clip_span(store) -> tuple[float, float, int]:
    with MemoryStore(store, read_only=True) as s:
        row = s.db.execute("SELECT MIN(t_start), MAX(t_end), COUNT(*) FROM entries WHERE scale='clip'").fetchone()
    return row


def test_a_file_source_is_remembered_and_a_restart_continues_its_time(sample_video, tmp_path):
    video, manifest = sample_video(duration=30.0, fps=5.0, seed=11)
    store = tmp_path / "store"
    live = LiveSession(store, CONFIG, realtime=False)
    live.start(str(video))
    _until(lambda: live.state != "running", 120, "the file to end")
    assert live.state == "ended" and _clip_span(store) == (0.0, 30.0, 15)
    handle = StoreHandle("live", store)
    scene = manifest.scenes[2]
    answer = handle.run(handle.ask, "", render_frame(manifest, scene.t_start + 5), None, None)
    assert scene.t_start - 1 <= answer["evidence"][0]["t_start"] < scene.t_end
    live.start(str(video))  # as after a restart of `vidmem webcam --store`: the same memory goes on
    _until(lambda: live.state != "running", 120, "the second pass to end")
    assert _clip_span(store) == (0.0, 60.0, 30)
    answer = handle.run(handle.ask, "", render_frame(manifest, scene.t_start + 5), None, None)
    times = sorted(e["t_start"] for e in answer["evidence"])
    assert any(scene.t_start + 30 - 1 <= t < scene.t_end + 30 for t in times), times
    handle.close()


def test_loop_replays_a_file_with_time_going_on(sample_video, tmp_path):
    video, _ = sample_video(duration=10.0, fps=5.0, seed=12)
    live = LiveSession(tmp_path / "store", CONFIG, loop=True, realtime=False)
    live.start(str(video))
    _until(lambda: live.status()["stream_time"] > 35, 120, "three loops")
    live.stop()
    assert live.state == "stopped"
    start, end, count = _clip_span(tmp_path / "store")
    assert start == 0.0 and end > 35 and count == round(end / 2)


def test_a_camera_that_cannot_be_opened_is_reported_and_the_server_keeps_serving(indexed, tmp_path):
    live = LiveSession(tmp_path / "store", CONFIG)
    live.start("97")
    with TestClient(create_app([StoreHandle("sample", indexed[0])], live)) as client:
        status = client.get("/api/live").json()
        assert status["state"] == "error" and status["error"] == "cannot open camera 97"
        assert client.get("/api/info").json()["live"]["error"] == "cannot open camera 97"
        assert client.get("/api/live/frame.jpg").status_code == 204
        assert client.post("/api/ask", json={"question": "who answers the phone"}).json()["found"]
        bad = client.post("/api/live/source", json={"source": "rtsp://127.0.0.1:9/none"}).json()
        assert bad["state"] == "error" and "cannot open source rtsp://127.0.0.1:9/none" in bad["error"]
        assert client.post("/api/live/source", content=b"{oops").status_code == 400
        assert client.get("/healthz").status_code == 200


def test_browser_frames_over_the_websocket_become_memory(tmp_path):
    store = tmp_path / "store"
    live = LiveSession(store, LiveConfig(ocr=False, fps=2.0, clip_seconds=1.0))
    live.start("browser")
    handle = StoreHandle("live", store)
    frame = io.BytesIO()
    Image.fromarray(render_frame(_manifest(), 1.0)).save(frame, format="JPEG")
    with TestClient(create_app([handle], live)) as client, client.websocket_connect("/api/live/ws") as ws:
        ws.send_bytes(b"not a picture")
        assert "not a known image format" in ws.receive_json()["error"]  # skipped; the socket stays open
        deadline = time.monotonic() + 60
        while live.stats.clips < 3 and time.monotonic() < deadline:
            ws.send_bytes(frame.getvalue())
            time.sleep(0.1)  # a camera's pace: frames are timed by their arrival
        assert live.stats.clips >= 3
        assert client.get("/api/live/frame.jpg").headers["content-type"] == "image/jpeg"
    live.stop()  # the browser left; what it sent stays
    assert _clip_span(store)[2] >= 3
    handle.close()


def _manifest():
    from demos.sample_video import SampleManifest, plan_scenes

    return SampleManifest("", 10.0, 5.0, (320, 180), 3, plan_scenes(10.0, 10.0, 3))


@pytest.mark.parametrize("source", ["/no/such/file.mp4", "camera-one"])
def test_sources_that_are_neither_file_camera_nor_url_are_named(source, tmp_path):
    live = LiveSession(tmp_path / "store", CONFIG)
    live.start(source)
    assert live.state == "error" and source in live.error
    assert not (tmp_path / "store").exists()  # nothing was opened, so no store was made
