"""The JSON API without a browser: every endpoint, and every kind of bad input, on a warm store."""

from __future__ import annotations

import base64
import io
import json

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from demos.sample_video import render_frame
from vidmem.web.app import create_app
from vidmem.web.stores import StoreHandle


@pytest.fixture(scope="module")
def client(indexed):
    store, _, _ = indexed
    handle = StoreHandle("sample", store)
    handle.run(handle.warm)
    with TestClient(create_app([handle])) as c:
        yield c
    handle.close()


def _png(image: np.ndarray) -> bytes:
    out = io.BytesIO()
    Image.fromarray(image).save(out, format="PNG")
    return out.getvalue()


def _scene(manifest, caption_word: str):
    return next(s for s in manifest.scenes if caption_word in s.caption)


def test_healthz_and_openapi(client):
    assert client.get("/healthz").json() == {"ok": True, "stores": ["sample"], "live": False}
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/api/ask", "/api/info", "/api/timeline", "/healthz"} <= set(paths)


def test_info_names_the_store_its_video_and_memories(client, indexed):
    _, video, _ = indexed
    info = client.get("/api/info").json()
    (store,) = info["stores"]
    assert store["name"] == "sample" and store["count"] > 0
    assert store["sources"][0]["path"] == str(video.resolve())
    assert store["sources"][0]["video_url"] == "/api/video/sample/1"
    assert store["memories"]["episodic@clip"] == 30  # 60 s in 2 s clips
    assert info["live"] is None


def test_ask_json_answers_with_the_scene_of_the_caption(client, indexed):
    _, _, manifest = indexed
    scene = manifest.scenes[3]
    answer = client.post("/api/ask", json={"question": f"When does this happen: {scene.caption}?"}).json()
    assert answer["found"] and answer["store"] == "sample"
    first = answer["evidence"][0]
    assert scene.t_start - 1 <= first["t_start"] < scene.t_end
    assert set(answer) >= {"answer", "found", "choice", "confidence", "evidence", "trace"}
    assert first["video_url"] == "/api/video/sample/1"


def test_ask_with_an_image_as_base64_and_as_upload(client, indexed):
    _, _, manifest = indexed
    scene = manifest.scenes[4]
    png = _png(render_frame(manifest, (scene.t_start + scene.t_end) / 2))
    as_json = client.post("/api/ask", json={"image": base64.b64encode(png).decode()}).json()
    as_form = client.post("/api/ask", files={"image": ("q.png", png, "image/png")}, data={"question": ""}).json()
    for answer in (as_json, as_form):
        assert scene.t_start - 1 <= answer["evidence"][0]["t_start"] < scene.t_end, answer["evidence"][0]
    keyframe = as_json["evidence"][0]["keyframe_url"]
    got = client.get(keyframe)
    assert got.status_code == 200 and got.headers["content-type"] == "image/jpeg" and got.content[:2] == b"\xff\xd8"


def test_multiple_choice_through_a_form(client, indexed):
    _, _, manifest = indexed
    scene = manifest.scenes[2]
    other = next(s for s in manifest.scenes if s.caption != scene.caption)
    form = {"question": f"What happens at {scene.t_start + 2:.0f} seconds?", "choices": [other.caption, scene.caption]}
    answer = client.post("/api/ask", data=form).json()
    assert answer["choice"] in (0, 1)
    assert len(answer["evidence"]) >= 1


def test_timeline_pages_by_time(client):
    everything = client.get("/api/timeline", params={"limit": 2000}).json()
    kinds = {i["kind"] for i in everything["items"]}
    assert {"episodic@clip", "visual", "text@subtitle"} <= kinds
    starts = [i["t_start"] for i in everything["items"]]
    assert starts == sorted(starts) and everything["next_offset"] is None
    window = client.get("/api/timeline", params={"from": 20, "to": 30}).json()["items"]
    assert window and all(i["t_end"] >= 20 and i["t_start"] <= 30 for i in window)
    first = client.get("/api/timeline", params={"limit": 5}).json()
    second = client.get("/api/timeline", params={"limit": 5, "offset": first["next_offset"]}).json()
    assert first["next_offset"] == 5
    assert [i["id"] for i in first["items"] + second["items"]] == [i["id"] for i in everything["items"][:10]]


def test_video_is_served_with_range_requests(client, indexed):
    _, video, _ = indexed
    got = client.get("/api/video/sample/1", headers={"Range": "bytes=100-199"})
    assert got.status_code == 206
    assert got.content == video.read_bytes()[100:200]


def test_page_and_static_files(client):
    page = client.get("/")
    assert page.status_code == 200 and 'id="ask-form"' in page.text
    assert client.get("/static/app.js").status_code == 200


@pytest.mark.parametrize(
    ("method", "url", "kwargs", "status", "words"),
    [
        (
            "post",
            "/api/ask",
            {"content": b"{not json", "headers": {"content-type": "application/json"}},
            400,
            "not valid JSON",
        ),
        ("post", "/api/ask", {"json": ["a", "list"]}, 400, "JSON object"),
        ("post", "/api/ask", {"json": {"question": ""}}, 400, "question is empty"),
        ("post", "/api/ask", {"json": {"question": "?!"}}, 400, "no words"),
        ("post", "/api/ask", {"json": {"question": "x", "choices": "a"}}, 400, "list of strings"),
        ("post", "/api/ask", {"json": {"question": "x", "choices": ["a", " "]}}, 400, "choice 2 is empty"),
        ("post", "/api/ask", {"json": {"question": "x", "from": 9, "to": 3}}, 400, "must be before"),
        ("post", "/api/ask", {"json": {"question": "x", "store": "nope"}}, 404, "unknown store 'nope'"),
        ("post", "/api/ask", {"json": {"image": "%%%"}}, 400, "not valid base64"),
        ("post", "/api/ask", {"json": {"image": base64.b64encode(b"plain text").decode()}}, 400, "not a known image"),
        ("post", "/api/ask", {"files": {"image": ("x.txt", b"hello", "text/plain")}}, 400, "not a known image"),
        ("get", "/api/timeline?store=nope", {}, 404, "unknown store"),
        ("get", "/api/timeline?limit=0", {}, 400, "limit must be"),
        ("get", "/api/timeline?from=abc", {}, 400, "'from' must be a number"),
        ("get", "/api/keyframes/sample/1/..%2F..%2Fstore.sqlite", {}, 404, "no such page"),
        ("get", "/api/keyframes/sample/..%2F..%2F..%2Fetc/passwd", {}, 404, "no such page"),
        ("get", "/api/keyframes/sample/1/0000001.png", {}, 404, "no keyframe"),
        ("get", "/api/keyframes/sample/1/9999999.jpg", {}, 404, "no keyframe"),
        ("get", "/api/video/sample/7", {}, 404, "no source 7"),
        ("get", "/api/video/sample/x", {}, 400, "source_id"),
    ],
)
def test_bad_input_is_one_clear_error_and_the_server_keeps_serving(client, method, url, kwargs, status, words):
    got = getattr(client, method)(url, **kwargs)
    assert got.status_code == status, got.text
    assert words in got.json()["error"]
    assert client.get("/healthz").status_code == 200


def test_oversized_uploads_are_refused_before_decoding(client):
    # a PNG declaring 30000 x 30000 pixels in a few bytes: refused from its header
    header = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + (30000).to_bytes(4, "big") * 2 + b"\x08\x02\x00\x00\x00"
    got = client.post("/api/ask", files={"image": ("bomb.png", header + b"\x00" * 64, "image/png")})
    assert got.status_code == 413 and "30000x30000" in got.json()["error"]
    big = b"x" * (17 << 20)
    got = client.post("/api/ask", content=big, headers={"content-type": "application/json"})
    assert got.status_code == 413 and "limit is" in got.json()["error"]


def test_answers_are_the_cli_object(client, indexed, capsys):
    """Same question, same object as ``vidmem ask --json`` (the web adds urls and the store name)."""
    from vidmem.cli import main

    store, _, manifest = indexed
    question = f"When does this happen: {manifest.scenes[1].caption}?"
    assert main(["ask", str(store), question, "--json"]) == 0
    cli = json.loads(capsys.readouterr().out)
    web = client.post("/api/ask", json={"question": question}).json()
    for item in web["evidence"]:
        del item["keyframe_url"], item["video_url"], item["source_id"]
    del web["store"]
    assert web == cli


def test_keyframe_names_outside_the_keyframes_folder_are_refused(indexed):
    from vidmem.errors import StoreError

    handle = StoreHandle("sample", indexed[0])
    for name in ("../../store.sqlite", "..", "0000001.jpg/../../x.jpg", "%2e%2e.jpg"):
        with pytest.raises(StoreError, match="no keyframe"):
            handle.keyframe_file(1, name)
    assert handle.keyframe_file(1, "0000000.jpg").is_file()


def test_many_clients_at_once_get_the_answers_one_client_gets(client, indexed):
    from concurrent.futures import ThreadPoolExecutor

    _, _, manifest = indexed
    asked = [f"When does this happen: {s.caption}?" for s in manifest.scenes[:4]] * 3
    alone = {q: client.post("/api/ask", json={"question": q}).json()["evidence"][0]["t_start"] for q in set(asked)}
    with ThreadPoolExecutor(8) as pool:
        together = list(pool.map(lambda q: client.post("/api/ask", json={"question": q}).json(), asked))
    assert [a["evidence"][0]["t_start"] for a in together] == [alone[q] for q in asked]
