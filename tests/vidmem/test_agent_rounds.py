"""Rounds and their trace, anchored questions, budgeted selection, and ``ask --plot`` / ``--json`` from the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from tests.vidmem.agent_fixtures import spoken_store  # noqa: F401  (fixture)
from vidmem.agent.agent import AgentConfig, RetrievalAgent
from vidmem.agent.intent import split_anchor
from vidmem.storage.store import MemoryStore

REPO = Path(__file__).resolve().parents[2]
ROUND_KEYS = {"round", "source", "scale", "window", "query", "hits", "new", "by", "support", "decision"}


def _ask(store, question, config=None, **kwargs):
    with MemoryStore(store) as s:
        return RetrievalAgent(s, config).ask(question, **kwargs)


def test_supported_question_stops_after_the_first_round_with_its_reason(spoken_store):  # noqa: F811
    manifest, store = spoken_store
    answer = _ask(store, f"When is it said that {manifest.scenes[3].caption.lower()}?")
    searches = [r for r in answer.trace if "query" in r and "hits" in r and "new" in r]
    assert searches[0].keys() >= ROUND_KEYS
    assert searches[0]["source"] == "text" and searches[0]["by"] == "embedded"
    assert searches[0]["support"]["found"] is True and searches[0]["decision"] == "enough"
    stop = next(r for r in answer.trace if r["round"] == "stop")
    assert stop["decision"] == "enough"
    assert len(searches) == 1


def test_unsupported_question_refines_coarse_to_fine_then_stops(spoken_store):  # noqa: F811
    _, store = spoken_store
    answer = _ask(store, "When does the elephant dance on the piano?")
    purposes = [r["round"] for r in answer.trace if "new" in r]
    assert purposes[0] == "locate" and "coarse" in purposes and "refine" in purposes
    coarse = next(r for r in answer.trace if r["round"] == "coarse")
    refine = next(r for r in answer.trace if r["round"] == "refine")
    assert coarse["scale"] not in (None, "clip")
    assert refine["window"] is not None and refine["scale"] is None
    assert any(h["t"] == refine["window"] for h in coarse["hits"]), "refinement searches inside a coarse window"
    stop = next(r for r in answer.trace if r["round"] == "stop")
    assert stop["decision"] in ("nothing new", "exhausted", "round budget")
    decisions = [r["decision"] for r in answer.trace if "new" in r]
    assert decisions[0].startswith("coarse episodic@") and decisions[-1] == stop["decision"]


def test_round_budget_stops_the_search(spoken_store):  # noqa: F811
    _, store = spoken_store
    answer = _ask(store, "When does the elephant dance on the piano?", AgentConfig(max_rounds=1))
    assert sum("new" in r for r in answer.trace) == 1
    assert next(r for r in answer.trace if r["round"] == "stop")["decision"] == "round budget"


def test_anchor_question_finds_the_anchor_then_searches_after_it(spoken_store):  # noqa: F811
    manifest, store = spoken_store
    scene, following = manifest.scenes[1], manifest.scenes[2]
    anchor_words = scene.caption.lower().rstrip(".")
    answer = _ask(store, f"After {anchor_words}, what happens?")
    anchor = next(r for r in answer.trace if r["round"] == "anchor")
    near = next(r for r in answer.trace if r["round"] == "neighbourhood")
    assert any(abs(a - scene.t_start) <= 1.0 for a, _ in anchor["found"])
    assert near["window"][0] >= scene.t_start
    assert following.caption in answer.text, answer.text


def test_split_anchor_both_orders():
    assert split_anchor("After he closes the fridge, what does he pick up?") == (
        "he closes the fridge",
        "what does he pick up",
    )
    assert split_anchor("What does he pick up after he closes the fridge?") == (
        "he closes the fridge",
        "What does he pick up",
    )


@pytest.mark.parametrize("budget", [3, 8])
def test_budget_hands_exactly_that_many_memories_to_the_reasoner(spoken_store, budget):  # noqa: F811
    manifest, store = spoken_store
    answer = _ask(store, f"What is said about {manifest.scenes[0].caption.split()[-1]}?", AgentConfig(budget=budget))
    select = next(r for r in answer.trace if r["round"] == "select")
    assert select["budget"] == budget and len(select["selected"]) == budget
    assert len({s["id"] for s in select["selected"]}) == budget
    chosen = {(s["t"][0], s["t"][1]) for s in select["selected"]}
    assert all((round(e.t_start, 2), round(e.t_end, 2)) in chosen for e in answer.evidence)


def _cli(*args):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "vidmem.cli", *args], capture_output=True, text=True, env=env)


def test_cli_json_found_trace_and_plot(spoken_store, tmp_path):  # noqa: F811
    manifest, store = spoken_store
    png = tmp_path / "timeline.png"
    out = _cli("ask", str(store), "When does the elephant dance on the piano?", "--json", "--plot", str(png))
    assert out.returncode == 0, out.stderr
    answer = json.loads(out.stdout)
    assert set(answer) == {"answer", "found", "choice", "confidence", "evidence", "trace"}
    assert answer["found"] is False and answer["evidence"]
    with Image.open(png) as image:
        assert image.format == "PNG" and image.size == (1200, 500)
        pixels = image.convert("RGB").getcolors(1 << 20)
    assert len(pixels) > 50, "the picture has lanes and marks, not a blank canvas"


def test_cli_model_flags_fail_in_one_line(spoken_store):  # noqa: F811
    _, store = spoken_store
    out = _cli("ask", str(store), "When?", "--model", "x")
    assert out.returncode == 2 and out.stderr.startswith("error: --model needs a model reasoner")
    out = _cli("ask", str(store), "When?", "--reasoner", "opnai")
    assert out.returncode == 2 and "did you mean 'openai'" in out.stderr and len(out.stderr.splitlines()) == 1
    out = _cli("ask", str(store), "When?", "--reasoner", "openai")
    assert out.returncode == 2 and "--model" in out.stderr and len(out.stderr.splitlines()) == 1
