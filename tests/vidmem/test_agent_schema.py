"""The strict JSON schema of model decisions and answers, and the abstention figures' arithmetic."""

from __future__ import annotations

import pytest

from eval.abstain import figures
from vidmem.agent.models import MalformedOutput, parse_answer, parse_decision
from vidmem.agent.rounds import Step

MEMORIES = {"text", "episodic@clip", "episodic@30s", "visual"}


def test_search_decision_with_window_and_fenced_block():
    raw = '```json\n{"action": "search", "memory": "episodic@30s", "query": "fridge", "window": [10, 40.5]}\n```'
    assert parse_decision(raw, MEMORIES, "q") == Step("episodic@30s", "fridge", (10.0, 40.5), "model")
    assert parse_decision('{"action": "answer", "reason": "enough"}', MEMORIES, "q") == "answer"
    assert parse_decision('{"action": "search", "memory": "text"}', MEMORIES, "the question").query == "the question"


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        ("search the text", "not a JSON object"),
        ("[1, 2]", "not a JSON object"),
        ('{"action": "look"}', "action must be"),
        ('{"action": "search", "memory": "kitchen", "query": "x"}', "memory must be one of"),
        ('{"action": "search", "memory": "text", "query": ""}', "query must be"),
        ('{"action": "search", "memory": "text", "query": "x", "window": [5, 2]}', "window must be"),
        ('{"action": "search", "memory": "text", "query": "x", "window": "all"}', "window must be"),
        ('{"action": "answer", "answer": "at 0:12"}', "unexpected keys"),
    ],
)
def test_malformed_decisions_say_what_is_wrong(raw, why):
    with pytest.raises(MalformedOutput, match=why):
        parse_decision(raw, MEMORIES, "q")


def test_answers_and_choices():
    assert parse_answer('{"answer": " At 0:12 he opens it. "}', None) == "At 0:12 he opens it."
    assert parse_answer('{"choice": 2}', ["a", "b", "c"]) == 2
    for raw, choices in [('{"choice": 3}', ["a", "b", "c"]), ('{"choice": true}', ["a", "b"]),
                         ('{"answer": ""}', None), ('{"text": "x"}', None)]:  # fmt: skip
        with pytest.raises(MalformedOutput):
            parse_answer(raw, choices)


def test_abstention_figures_count_each_side():
    def row(channel, kind, answerable, found, right=True):
        return {"channel": channel, "kind": kind, "answerable": answerable, "found": found, "right_time": right}

    results = [
        row("caption", "when", True, True),
        row("caption", "when", True, False),
        row("caption", "when", False, False),
        row("caption", "count", False, True),
        row("image", "image", True, True, right=False),
        row("image", "image", False, False),
    ]
    f = figures(results)
    assert f["overall"] == {"answerable": 3, "unanswerable": 3, "false_answer_rate": 0.3333,
                            "abstention_rate": 0.3333, "wrong_time_rate": 0.5}  # fmt: skip
    assert f["channels"]["caption"]["false_answer_rate"] == 0.5 and f["channels"]["image"]["abstention_rate"] == 0.0
    assert f["kinds"]["count"]["abstention_rate"] is None
