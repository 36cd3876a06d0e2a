"""The ``openai`` reasoner against a real HTTP server on 127.0.0.1 that speaks chat completions."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.vidmem.agent_fixtures import spoken_store  # noqa: F401  (fixture)
from vidmem.agent.agent import AgentConfig, RetrievalAgent
from vidmem.storage.store import MemoryStore

REPO = Path(__file__).resolve().parents[2]


class ChatServer:
    """A chat-completions endpoint whose replies come from ``respond(body) -> str``; it keeps every request."""

    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.respond = lambda body: '{"action": "answer"}'
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                self._send(200, {"ok": True} if self.path == "/health" else {"error": "not found"})

            def do_POST(self):  # noqa: N802
                if self.path != "/v1/chat/completions":
                    return self._send(404, {"error": "not found"})
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                outer.requests.append({"body": body, "auth": self.headers.get("Authorization")})
                content = outer.respond(body)
                reply = {"object": "chat.completion", "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": content}}]}  # fmt: skip
                self._send(200, reply)

            def _send(self, code, obj):
                data = json.dumps(obj).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def start(self) -> ChatServer:
        self.thread.start()
        deadline = time.monotonic() + 10.0
        while True:  # poll the health endpoint; no fixed sleep
            try:
                with urllib.request.urlopen(self.url.rsplit("/v1", 1)[0] + "/health", timeout=1) as r:
                    if r.status == 200:
                        return self
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.01)

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server(monkeypatch):
    s = ChatServer().start()
    monkeypatch.setenv("OPENAI_BASE_URL", s.url)
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    yield s
    s.stop()


def _prompt(body: dict) -> str:
    return body["messages"][-1]["content"]


def _ask(store, question, **kwargs):
    with MemoryStore(store) as s:
        return RetrievalAgent(s, AgentConfig(reasoner="openai", model="tiny-chat")).ask(question, **kwargs)


def test_model_picks_a_round_stops_and_phrases_the_answer(server, spoken_store):  # noqa: F811
    manifest, store = spoken_store
    scene = manifest.scenes[2]
    window = [scene.t_start, scene.t_end]

    def respond(body):
        prompt = _prompt(body)
        if '{"answer": TEXT}' in prompt:
            return json.dumps({"answer": f"It is said at {scene.t_start:.0f} s: {scene.caption}"})
        if "searched episodic@clip" in prompt:
            return '{"action": "answer", "reason": "the caption matches"}'
        return json.dumps({"action": "search", "memory": "episodic@clip", "query": scene.caption, "window": window})

    server.respond = respond
    answer = _ask(store, f"When is it said that {scene.caption.lower()}?")
    model_round = next(r for r in answer.trace if r.get("by") == "model")
    assert model_round["source"] == "episodic" and model_round["scale"] == "clip"
    assert model_round["window"] == window and model_round["query"] == scene.caption
    assert json.loads(model_round["raw"])["action"] == "search"
    assert all(scene.t_start - 1e-6 <= h["t"][0] and h["t"][1] <= scene.t_end + 1e-6 for h in model_round["hits"])
    stop = next(r for r in answer.trace if r["round"] == "stop")
    assert stop["decision"] == "enough" and stop["by"] == "model" and "the caption matches" in stop["raw"]
    assert answer.found and answer.text == f"It is said at {scene.t_start:.0f} s: {scene.caption}"
    assert next(r for r in answer.trace if r["round"] == "answer")["by"] == "openai"
    first = server.requests[0]
    assert first["auth"] == "Bearer test-key"
    assert first["body"]["model"] == "tiny-chat" and first["body"]["response_format"] == {"type": "json_object"}
    assert first["body"]["messages"][0]["role"] == "system"


def test_malformed_output_falls_back_to_the_embedded_policy_and_is_recorded(server, spoken_store):  # noqa: F811
    manifest, store = spoken_store
    scene = manifest.scenes[4]
    server.respond = lambda body: "Sure! Let me look at the fridge first."
    answer = _ask(store, f"When is it said that {scene.caption.lower()}?")
    fallbacks = [r for r in answer.trace if r["round"] == "fallback"]
    assert fallbacks and fallbacks[0]["raw"].startswith("Sure!") and "not a JSON object" in fallbacks[0]["error"]
    final = next(r for r in answer.trace if r["round"] == "answer")
    assert final["by"] == "embedded" and "fallback" in final
    assert answer.found and scene.caption in answer.text
    assert scene.t_start - 1 <= answer.evidence[0].t_start <= scene.t_end


def test_unknown_memory_is_malformed(server, spoken_store):  # noqa: F811
    manifest, store = spoken_store
    server.respond = lambda body: '{"action": "search", "memory": "the fridge", "query": "milk"}'
    answer = _ask(store, f"When is it said that {manifest.scenes[0].caption.lower()}?")
    fallback = next(r for r in answer.trace if r["round"] == "fallback")
    assert "memory must be one of" in fallback["error"]


def test_guard_keeps_a_model_from_answering_from_nothing(server, spoken_store):  # noqa: F811
    _, store = spoken_store
    server.respond = lambda body: '{"action": "answer"}'
    answer = _ask(store, "When does the elephant dance on the piano?")
    assert answer.found is False and answer.text.startswith("Nothing in the video supports")
    guard = next(r for r in answer.trace if r["round"] == "fallback")
    assert "does not support" in guard["error"]
    assert not any('{"answer": TEXT}' in _prompt(r["body"]) for r in server.requests), "no phrasing of nothing"


def test_multiple_choice_by_the_model(server, spoken_store):  # noqa: F811
    manifest, store = spoken_store
    scene = manifest.scenes[1]
    others = [s.caption for s in manifest.scenes if s.caption != scene.caption][:2]
    server.respond = lambda body: '{"choice": 2}' if '{"choice": INDEX}' in _prompt(body) else '{"action": "answer"}'
    answer = _ask(store, f"What happens when {scene.caption.lower()}?", choices=[others[0], others[1], scene.caption])
    assert answer.choice == 2 and answer.text == scene.caption


def test_unreachable_endpoint_is_one_line(spoken_store, tmp_path):  # noqa: F811
    _, store = spoken_store
    probe = ChatServer()  # bind a port, then close it: nothing listens there
    url = probe.url
    probe.httpd.server_close()
    env = {**os.environ, "PYTHONPATH": str(REPO), "OPENAI_BASE_URL": url}
    args = ["ask", str(store), "When is the train arriving?", "--reasoner", "openai", "--model", "m"]
    out = subprocess.run([sys.executable, "-m", "vidmem.cli", *args], capture_output=True, text=True, env=env)
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert lines[-1].startswith("error: cannot reach the OpenAI-compatible endpoint") and url in lines[-1]
    assert "Traceback" not in out.stderr


def test_a_yaml_preset_sends_keyframes_as_images(server, spoken_store, tmp_path):  # noqa: F811
    manifest, store = spoken_store
    preset = tmp_path / "vision.yaml"
    preset.write_text("type: openai\nmodel: vision-chat\nimages: true\njson_mode: false\n")
    scene = manifest.scenes[0]
    server.respond = lambda body: '{"answer": "seen"}' if "TEXT" in json.dumps(body) else '{"action": "answer"}'
    with MemoryStore(store) as s:
        answer = RetrievalAgent(s, AgentConfig(reasoner=str(preset))).ask(f"When is it said that {scene.caption}?")
    assert answer.text == "seen"
    last = server.requests[-1]["body"]
    assert last["model"] == "vision-chat" and "response_format" not in last
    parts = last["messages"][-1]["content"]
    assert parts[0]["type"] == "text" and '{"answer": TEXT}' in parts[0]["text"]
    images = [p["image_url"]["url"] for p in parts[1:]]
    assert images and all(u.startswith("data:image/jpeg;base64,/9j/") for u in images)  # JPEG magic, base64
