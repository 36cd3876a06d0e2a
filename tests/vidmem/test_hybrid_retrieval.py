"""Hybrid text retrieval with the real MiniLM model: what dense, lexical (BM25) and fused search each get right.

Each scenario is a small store of subtitle lines from one video. The cases are built so that one method is right
where another is wrong:

1. an exact room number among near-identical lines: BM25 finds it, dense embeddings blur the digits;
2. a paraphrase with no shared content words: dense finds it, BM25 only matches an incidental word;
3. an answer that is second in both lists: the dense top-1 is a question echoing the query in other words (no
   lexical match), the BM25 top-1 is a two-word exclamation repeating one query word; fusion puts the answer first.

MiniLM is deterministic on CPU, so the scores are fixed; the margins are noted next to each case.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from vidmem.agent.reader import Hit, MemoryReader
from vidmem.storage.store import MemoryStore
from vidmem.types import MemoryEntry

# Case 1 (office). "room 214": dense ranks "Meeting in room 241." first (cos 0.74) and the answer 4th (0.52);
# BM25 ranks the answer first (1.26, the only line with "214"; "room" is in most lines so its idf is ~0);
# fused: answer 0.66 vs "Meeting in room 241." 0.52.
OFFICE = [
    "The budget review moved to the small office, room 214, after lunch.",
    "Meeting in room 241.",
    "Meeting in room 412.",
    "Meeting in room 124.",
    "The printer on the second floor is out of toner.",
    "Lunch is at noon in the cafeteria.",
    "Can someone book a taxi for the visitors?",
    "The fire drill is on Thursday at ten.",
]
ROOM_QUERY = "room 214"
ROOM_ANSWER = OFFICE[0]
ROOM_DENSE_DECOY = "Meeting in room 241."

# Case 2 (home, evening). "is the faucet still leaking" (terms: faucet, still, leaking) shares no word with the
# answer (tap, dripping): dense answer 0.44 vs 0.30; BM25 only matches "still" -> "Are you still awake?";
# fused: answer 0.31 (dense only) vs "Are you still awake?" 0.22 (coverage 1/3 caps its lexical part at 0.1).
EVENING = [
    "The tap in the washroom keeps dripping all night.",
    "Put the milk back in the fridge, please.",
    "Are you still awake?",
    "The water bill came this morning.",
    "Someone left the bathroom window open.",
    "The kitchen floor needs mopping before the guests arrive.",
    "Your car keys are hanging by the front door.",
    "Dinner is ready, come and sit down.",
    "The bins go out on Tuesday night.",
    "Your mum rang about Sunday lunch.",
]
FAUCET_QUERY = "is the faucet still leaking"
FAUCET_ANSWER = EVENING[0]
FAUCET_LEXICAL_DECOY = "Are you still awake?"

# Case 3 (living room). "where is the television remote" (terms: television, remote):
# dense: "Where is the TV controller?" 0.74, answer 0.59 (2nd), "Remote? Remote!" 0.55;
# BM25: "Remote? Remote!" 2.31, answer 1.47 (2nd, covers both terms);
# fused: answer 0.7*0.59 + 0.3*1.0*1.47/2.31 = 0.61, "Remote? Remote!" 0.7*0.55 + 0.3*0.5 = 0.53,
# "Where is the TV controller?" 0.7*0.74 = 0.52.
LIVING_ROOM = [
    "Remote? Remote!",
    "The television show starts at eight tonight.",
    "Turn the television down, the baby's asleep.",
    "Dinner is ready, come and sit down.",
    "Can you let the cat out before bed?",
    "I'll wash up if you dry.",
    "The heating comes on at six in the morning.",
    "Your mum rang about Sunday lunch.",
    "The bins go out on Tuesday night.",
    "Where is the TV controller?",
    "I put the television remote on top of the bookcase so the baby can't reach it.",
]
REMOTE_QUERY = "where is the television remote"
REMOTE_ANSWER = LIVING_ROOM[-1]
REMOTE_DENSE_DECOY = "Where is the TV controller?"
REMOTE_LEXICAL_DECOY = "Remote? Remote!"

K = 5
MARGIN = 0.03
"""Least gap between a top-1 and the runner-up for the case to count (cosines and fused scores are in [0, 1])."""


@pytest.fixture(scope="module")
def text_encoder():
    """MiniLM on CPU, one torch thread: on a shared 2-core machine two threads made each encode ~80x slower."""
    import torch

    from encoders import build_text_encoder

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield build_text_encoder("minilm", device="cpu")
    finally:
        torch.set_num_threads(threads)


def _reader(root: Path, texts: list[str], encoder) -> MemoryReader:
    store = MemoryStore(root, create=True)
    sid = store.add_source("/v.mp4", "fp", 100.0, {})
    vecs = encoder.encode_text(texts)
    entries = [
        MemoryEntry("text", "subtitle", 10.0 * i, 10.0 * i + 5, text=t, extra={"_tvector": v})
        for i, (t, v) in enumerate(zip(texts, vecs, strict=True))
    ]
    with store.transaction():
        store.insert_entries(sid, entries)
    return MemoryReader(store, None, encoder)


def _texts(hits: list[Hit]) -> list[str]:
    return [h.entry.text for h in hits]


def _score(hits: list[Hit], text: str) -> float:
    return next(h.score for h in hits if h.entry.text == text)


def _assert_clear_top(hits: list[Hit], text: str) -> None:
    """``text`` is ranked first, ahead of the runner-up by at least ``MARGIN``."""
    assert _texts(hits)[0] == text, [(round(h.score, 3), h.entry.text) for h in hits]
    if len(hits) > 1:
        assert hits[0].score - hits[1].score >= MARGIN, [(round(h.score, 3), h.entry.text) for h in hits]


def test_lexical_finds_an_exact_number_that_dense_blurs(tmp_path, text_encoder):
    reader = _reader(tmp_path / "s", OFFICE, text_encoder)

    dense = reader.dense_text(ROOM_QUERY, K)
    assert _texts(dense)[0] == ROOM_DENSE_DECOY
    assert ROOM_ANSWER not in _texts(dense)[:3]  # the number barely moves the embedding
    assert _score(dense, ROOM_DENSE_DECOY) - _score(dense, ROOM_ANSWER) > 0.1

    lexical = reader.lexical_text(ROOM_QUERY, K)
    _assert_clear_top(lexical, ROOM_ANSWER)
    assert lexical[0].coverage == 1.0


def test_dense_finds_a_paraphrase_that_lexical_misses(tmp_path, text_encoder):
    reader = _reader(tmp_path / "s", EVENING, text_encoder)

    dense = reader.dense_text(FAUCET_QUERY, K)
    _assert_clear_top(dense, FAUCET_ANSWER)

    lexical = reader.lexical_text(FAUCET_QUERY, K)
    assert _texts(lexical)[0] == FAUCET_LEXICAL_DECOY
    assert FAUCET_ANSWER not in _texts(lexical)  # no query word in "tap ... dripping"
    assert lexical[0].coverage == pytest.approx(1 / 3)


def test_fusion_ranks_first_an_answer_both_sides_rank_second(tmp_path, text_encoder):
    reader = _reader(tmp_path / "s", LIVING_ROOM, text_encoder)

    dense = reader.dense_text(REMOTE_QUERY, K)
    _assert_clear_top(dense, REMOTE_DENSE_DECOY)
    assert _texts(dense)[1] == REMOTE_ANSWER

    lexical = reader.lexical_text(REMOTE_QUERY, K)
    assert _texts(lexical)[:2] == [REMOTE_LEXICAL_DECOY, REMOTE_ANSWER]
    assert REMOTE_DENSE_DECOY not in _texts(lexical)  # the dense winner shares no word with the query
    assert lexical[0].coverage == 0.5 and lexical[1].coverage == 1.0

    fused = reader.search_text(REMOTE_QUERY, K)
    _assert_clear_top(fused, REMOTE_ANSWER)
    assert fused[0].via == "dense+lexical"
    assert _texts(fused)[1:3] == [REMOTE_LEXICAL_DECOY, REMOTE_DENSE_DECOY]


@pytest.mark.parametrize(
    ("texts", "query", "answer", "via"),
    [
        pytest.param(EVENING, FAUCET_QUERY, FAUCET_ANSWER, "dense", id="dense-right"),
        pytest.param(OFFICE, ROOM_QUERY, ROOM_ANSWER, "dense+lexical", id="lexical-right"),
    ],
)
def test_fusion_keeps_what_one_side_gets_right(tmp_path, text_encoder, texts, query, answer, via):
    reader = _reader(tmp_path / "s", texts, text_encoder)
    fused = reader.search_text(query, K)
    _assert_clear_top(fused, answer)
    assert fused[0].via == via


def test_fused_top1_does_not_depend_on_k(tmp_path, text_encoder):
    reader = _reader(tmp_path / "s", OFFICE, text_encoder)
    assert _texts(reader.search_text(ROOM_QUERY, K))[0] == ROOM_ANSWER
    assert _texts(reader.search_text(ROOM_QUERY, 1))[0] == ROOM_ANSWER
