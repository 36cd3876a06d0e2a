"""Reasoners driven by a language model: ``openai`` (any OpenAI-compatible endpoint) and ``transformers`` (local).

The model makes two kinds of decision, each a JSON object in a strict schema (WorldMM):

- between rounds: ``{"action": "search", "memory": M, "query": Q, "window": [t0, t1] | null}`` to
  search memory ``M`` (one of those the prompt lists) for words ``Q``, or ``{"action": "answer"}``;
- at the end: ``{"answer": TEXT}`` phrased from the evidence, or ``{"choice": I}`` for multiple choice.

A ``"reason"`` key may ride along; anything else is malformed. Malformed output falls back to the
embedded policy (and the embedded answer), and the trace keeps the raw output and what was wrong.
The agent's retrieval-score guard stays in charge of stopping and of abstention: a model cannot end
the rounds, nor answer, while the evidence does not support an answer.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from vidmem.agent.reasoner import REASONERS, EmbeddedReasoner, fmt_span
from vidmem.agent.rounds import Step
from vidmem.types import Answer

SYSTEM = (
    "You answer questions about a long video from its memory. You never see the video itself, only "
    "memories retrieved from it. Reply with exactly one JSON object and nothing else."
)


class MalformedOutput(ValueError):
    """The model's reply does not fit the schema asked for."""


@dataclass(frozen=True)
class OpenAIReasonerConfig:
    """Attributes:
    model: the endpoint's model id (``--model``).
    base_url: the API root (default: ``$OPENAI_BASE_URL``, else https://api.openai.com/v1).
    api_key_env: environment variable holding the key (may be unset for local servers).
    timeout: seconds per request.
    max_tokens: tokens per reply.
    json_mode: ask for ``response_format: json_object`` (vLLM, llama.cpp and Ollama accept it).
    images: send keyframes as images (only for endpoints serving a vision model).
    """

    model: str = ""
    base_url: str = ""
    api_key_env: str = "OPENAI_API_KEY"
    timeout: float = 60.0
    max_tokens: int = 256
    json_mode: bool = True
    images: bool = False

    def __post_init__(self) -> None:
        if not self.model:
            raise ValueError("the openai reasoner needs a model: give --model NAME (the endpoint's model id)")
        if self.timeout <= 0 or self.max_tokens < 1:
            raise ValueError("timeout must be > 0 and max_tokens >= 1")


@dataclass(frozen=True)
class TransformersReasonerConfig:
    """Attributes:
    model: a local model folder or a model id in the Hugging Face cache (never downloaded).
    max_new_tokens: tokens generated per reply.
    images: pass keyframes to models that take images.
    device: ``cpu``, ``cuda`` or ``auto`` (cuda when present).
    """

    model: str = ""
    max_new_tokens: int = 160
    images: bool = True
    device: str = "auto"

    def __post_init__(self) -> None:
        if not self.model:
            raise ValueError("the transformers reasoner needs a model: give --model PATH_OR_CACHED_ID")
        if self.max_new_tokens < 1:
            raise ValueError("max_new_tokens must be >= 1")
        if self.device not in ("cpu", "cuda", "auto"):
            raise ValueError("device must be cpu, cuda or auto")


class ModelReasoner:
    """Rounds and answers from a chat model; the embedded reasoner computes times, counts and abstention.

    Args:
        client: an object with ``complete(messages, images) -> str`` (see ``vidmem.agent.lm_clients``).
        name: the backend's name, for the trace.
    """

    def __init__(self, client, name: str) -> None:
        self.client = client
        self.name = name
        self.embedded = EmbeddedReasoner()

    def decide(self, question, state, support, reader):
        """The model's next round: ``(Step | "answer", raw, error)``; ``error`` is set when malformed."""
        memories = _memory_menu(reader)
        prompt = _decide_prompt(question, state, support, memories)
        raw = self.client.complete([{"role": "system", "content": SYSTEM}, {"role": "user", "content": prompt}], [])
        try:
            return parse_decision(raw, set(memories), state.subject), raw, None
        except MalformedOutput as exc:
            return None, raw, str(exc)

    def answer(self, question, intent, hits, occurrences, choices, reader, n_evidence, trace, support=None) -> Answer:
        base = self.embedded.answer(question, intent, hits, occurrences, choices, reader, n_evidence, trace, support)
        if not base.found and not choices:
            trace.append({"round": "answer", "by": "embedded", "note": "evidence does not support an answer"})
            return base
        prompt = _answer_prompt(question, base, choices)
        images = [e.keyframe for e in base.evidence[:2] if e.keyframe]
        raw = self.client.complete([{"role": "system", "content": SYSTEM}, {"role": "user", "content": prompt}], images)
        try:
            value = parse_answer(raw, choices)
        except MalformedOutput as exc:
            trace.append({"round": "answer", "by": "embedded", "fallback": str(exc), "raw": raw})
            return base
        trace.append({"round": "answer", "by": self.name, "raw": raw})
        if choices:
            agrees = value == base.choice
            confidence = base.confidence if agrees else 0.5 * base.confidence
            return Answer(choices[value], value, confidence, base.evidence, trace, base.found)
        return Answer(value, None, base.confidence, base.evidence, trace, base.found)


def _memory_menu(reader) -> dict[str, str]:
    """Memories a model may search, with what each holds."""
    menu = {}
    for store, scale, n in reader.store.groups():
        if store == "episodic":
            menu[f"episodic@{scale}"] = (
                f"{n} {'clips' if scale == 'clip' else scale + ' windows'} (picture, words heard)"
            )
        elif store == "text" and "text" not in menu:
            menu["text"] = "subtitles, captions and on-screen text"
        elif store == "visual":
            menu["visual"] = f"{n} keyframes"
        elif store == "semantic" and "semantic" not in menu:
            menu["semantic"] = "recurring things and phrases, with every stretch of time they were seen"
    return menu


def _decide_prompt(question: str, state, support, memories: dict[str, str]) -> str:
    lines = [f"Question: {question}", "", "Memories you can search:"]
    lines += [f"- {name}: {what}" for name, what in memories.items()]
    lines += ["", "Rounds so far:"]
    for r in state.records:
        if "query" not in r or "hits" not in r:
            continue
        where = r["source"] + (f"@{r['scale']}" if r.get("scale") else "")
        lines.append(f"- searched {where} for {r['query']!r} in window {r['window']}: {len(r['hits'])} hits")
        for h in r["hits"][:3]:
            lines.append(f"    {fmt_span(*h['t'])} score {h['score']:.2f} {h.get('text', '')}")
    lines += [
        f"Evidence so far {'supports' if support.found else 'does not yet support'} an answer.",
        "",
        'Reply {"action": "search", "memory": NAME, "query": WORDS, "window": [START_S, END_S] or null} '
        'to search again, or {"action": "answer"} when the memories above answer the question.',
    ]
    return "\n".join(lines)


def _answer_prompt(question: str, base: Answer, choices: list[str] | None) -> str:
    lines = [f"Question: {question}", "", "Evidence from the video's memory (time, source, words):"]
    for e in base.evidence:
        lines.append(f"- {fmt_span(e.t_start, e.t_end)} {e.source}: {e.text or '(picture only)'}")
    if choices:
        lines += ["", "Options:"] + [f"{i}. {c}" for i, c in enumerate(choices)]
        lines += ["", 'Reply {"choice": INDEX} with the option the evidence supports best.']
    else:
        lines += [
            "",
            f"A rule-based reading of the evidence says: {base.text}",
            'Reply {"answer": TEXT}: one or two sentences, from the evidence only, with its times.',
        ]
    return "\n".join(lines)


def extract_json(raw: str) -> dict:
    """The one JSON object in a reply (a fenced code block is accepted), else ``MalformedOutput``."""
    text = raw.strip()
    fenced = re.fullmatch(r"```(?:json)?\s*(.*?)\s*```", text, re.DOTALL)
    if fenced:
        text = fenced.group(1)
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise MalformedOutput(f"not a JSON object: {exc.msg} at char {exc.pos}") from None
    if not isinstance(value, dict):
        raise MalformedOutput("not a JSON object")
    return value


def parse_decision(raw: str, memories: set[str], default_query: str) -> Step | str:
    """A round decision from a reply: a ``Step`` or ``"answer"``; raises ``MalformedOutput``."""
    value = extract_json(raw)
    action = value.get("action")
    allowed = {"action", "reason"} | ({"memory", "query", "window"} if action == "search" else set())
    extra = set(value) - allowed
    if extra:
        raise MalformedOutput(f"unexpected keys {sorted(extra)}")
    if action == "answer":
        return "answer"
    if action != "search":
        raise MalformedOutput(f"action must be 'search' or 'answer', got {action!r}")
    memory = value.get("memory")
    if memory not in memories:
        raise MalformedOutput(f"memory must be one of {sorted(memories)}, got {memory!r}")
    query = value.get("query", default_query)
    if not isinstance(query, str) or not query.strip() or len(query) > 300:
        raise MalformedOutput("query must be a non-empty string of at most 300 characters")
    return Step(memory, query.strip(), _window(value.get("window")), "model")


def _window(value) -> tuple[float, float] | None:
    if value is None:
        return None
    ok = isinstance(value, list) and len(value) == 2 and all(isinstance(v, int | float) for v in value)
    if not ok or value[0] >= value[1] or value[0] < 0:
        raise MalformedOutput("window must be null or [start, end] seconds with start < end")
    return float(value[0]), float(value[1])


def parse_answer(raw: str, choices: list[str] | None) -> str | int:
    """The phrased answer (text) or the chosen option's index; raises ``MalformedOutput``."""
    value = extract_json(raw)
    key = "choice" if choices else "answer"
    extra = set(value) - {key, "reason"}
    if extra or key not in value:
        raise MalformedOutput(f"expected {{{key!r}: ...}}, got keys {sorted(value)}")
    got = value[key]
    if choices:
        if isinstance(got, bool) or not isinstance(got, int) or not 0 <= got < len(choices):
            raise MalformedOutput(f"choice must be an option index 0..{len(choices) - 1}, got {got!r}")
        return got
    if not isinstance(got, str) or not got.strip():
        raise MalformedOutput("answer must be a non-empty string")
    return got.strip()


@REASONERS.register("openai", OpenAIReasonerConfig)
def _build_openai(config: OpenAIReasonerConfig) -> ModelReasoner:
    from vidmem.agent.lm_clients import OpenAIClient

    return ModelReasoner(OpenAIClient(config), "openai")


@REASONERS.register("transformers", TransformersReasonerConfig)
def _build_transformers(config: TransformersReasonerConfig) -> ModelReasoner:
    from vidmem.agent.lm_clients import TransformersClient

    return ModelReasoner(TransformersClient(config), "transformers")
