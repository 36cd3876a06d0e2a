"""Does the retrieved memory support an answer? The sufficiency test of each round and the abstention rule.

A question is supported when some retrieved memory matches what the question is about, judged on
the channel that found it:

- text channels (subtitles, captions, on-screen text, text attached to clips and windows): the
  cosine between the question's subject (``Intent.target``, or the anchor of a before/after
  question) and the memory's words in the text encoder's space, and the fraction of the subject's
  content words the memory contains. Either a high cosine, or a middling one with most content
  words present, supports an answer.
- image queries: the cosine between the query image and the best clip frame, per visual encoder
  (a frame of the video scores ~1.0 with the classical descriptor, a frame of another video ~0.85).
- text-to-picture (an encoder with a text tower): the CLIP cosine of the best clip.

The text thresholds were calibrated with ``vidmem eval abstain --calibrate`` (questions in
``eval/data/abstain_questions.json``, figures in the README): of a 3x3 grid (cosine 0.45-0.55, with
words 0.25-0.35), 0.55 / 0.3 tied for the fewest errors (false answers + abstentions + wrong times
on 115 text questions) and is the stricter of the two. The CLIP threshold is set from the
usual range of ViT-B-32 text-image cosines (~0.3 for a match, <0.2 for none) and is not calibrated
here (no CLIP weights on the development machine).
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass, field

import numpy as np

from vidmem.agent.reader import Hit, MemoryReader, clear_query_cache, term_coverage
from vidmem.storage.store import query_terms

SUPPORT_HITS = 6
"""Best hits (and occurrences) whose words are compared with the question."""


@dataclass(frozen=True)
class SupportConfig:
    """Attributes:
    text_cosine: subject-to-words cosine that supports an answer on its own.
    text_cosine_with_words: a lower cosine that supports when ``text_coverage`` of the words are there.
    text_coverage: fraction of the subject's content words a memory must contain (with the lower cosine).
    image_cosine: per visual encoder name, the image-to-frame cosine that supports an image query.
    image_cosine_default: for encoders not listed.
    clip_text_cosine: CLIP text-to-clip cosine that supports a text query on the picture alone.
    """

    text_cosine: float = 0.55
    text_cosine_with_words: float = 0.3
    text_coverage: float = 0.6
    image_cosine: tuple[tuple[str, float], ...] = (("classical", 0.92),)
    image_cosine_default: float = 0.9
    clip_text_cosine: float = 0.26

    def __post_init__(self) -> None:
        for name in ("text_cosine", "text_cosine_with_words", "text_coverage", "clip_text_cosine"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in [0, 1]")
        if self.text_cosine_with_words > self.text_cosine:
            raise ValueError("text_cosine_with_words must not exceed text_cosine")

    def image_threshold(self, encoder_name: str) -> float:
        return dict(self.image_cosine).get(encoder_name, self.image_cosine_default)


@dataclass
class Support:
    """The verdict on a set of memories.

    Attributes:
        found: the memories support an answer.
        strength: 0..1, how far past (or short of) the threshold the best memory is; 0.5 at the threshold.
        channel: ``text``, ``image`` or ``clip-text``: what decided.
        best: the memory that decided, or None.
        detail: the figures behind the verdict (for the trace).
    """

    found: bool
    strength: float
    channel: str
    best: Hit | None = None
    detail: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        return {"found": self.found, "strength": round(self.strength, 3), "channel": self.channel, **self.detail}


def judge(
    reader: MemoryReader,
    subject: str,
    hits: list[Hit],
    config: SupportConfig,
    image: np.ndarray | None = None,
    extra_texts: list[str] | None = None,
) -> Support:
    """Judges whether ``hits`` support an answer about ``subject`` (or about ``image``).

    Args:
        reader: the store's reader (its text encoder embeds the subject and the memories' words).
        subject: what the question is about, in words ("" for an image-only question).
        hits: retrieved memories, best first.
        config: thresholds.
        image: the query image, ``uint8 [H,W,3]``, for image questions.
        extra_texts: more words found for the question (occurrences), compared like hits' words.
    """
    verdicts = []
    if image is not None:
        verdicts.append(_image_support(reader, hits, config))
    if subject and reader.has_text:
        verdicts.append(_text_support(reader, subject, hits, config, extra_texts or []))
    if subject and image is None and reader.encoder.has_text:
        verdicts.append(_clip_text_support(hits, config))
    verdicts = [v for v in verdicts if v is not None]
    if not verdicts:
        return Support(False, 0.0, "none", hits[0] if hits else None, {"reason": "no channel can judge"})
    return max(verdicts, key=lambda v: (v.found, v.strength))


def _text_support(reader, subject, hits, config, extra_texts) -> Support | None:
    # coarse windows and semantic facts gather words from minutes of video: context, never support
    texted = [h for h in hits if h.entry.text and _fine(h)][:SUPPORT_HITS]
    texts = [h.entry.text for h in texted] + [t for t in extra_texts if t][:SUPPORT_HITS]
    if not texts:
        return None
    vectors = _embed(reader, [subject, *texts])
    cosines = vectors[1:] @ vectors[0]
    terms = query_terms(subject)
    coverage = np.array([term_coverage(terms, t) for t in texts])
    ok_alone = cosines >= config.text_cosine
    ok_words = (cosines >= config.text_cosine_with_words) & (coverage >= config.text_coverage)
    # strength: 0.5 at the threshold that applies, 1 at a perfect match, 0 at no similarity
    margin = np.maximum(
        _scaled(cosines, config.text_cosine),
        np.where(coverage >= config.text_coverage, _scaled(cosines, config.text_cosine_with_words), 0.0),
    )
    i = int(np.argmax(margin))
    best = texted[i] if i < len(texted) else (texted[0] if texted else None)
    found = bool((ok_alone | ok_words).any())
    detail = {"cosine": round(float(cosines[i]), 3), "coverage": round(float(coverage[i]), 3), "words": texts[i][:80]}
    return Support(found, float(margin[i]), "text", best, detail)


_EMBEDDINGS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
"""Per text encoder, the vectors of texts already judged: later rounds judge mostly the same words again."""


def clear_embedding_cache() -> None:
    """Forgets the judged texts' and the queries' vectors (benchmarks time each question from scratch)."""
    _EMBEDDINGS.clear()
    clear_query_cache()


def _embed(reader: MemoryReader, texts: list[str]) -> np.ndarray:
    """``float32 [N,D]`` unit vectors of ``texts`` in the text encoder's space, computed once per text."""
    cache = _EMBEDDINGS.setdefault(reader.text_encoder, {})
    missing = list(dict.fromkeys(t for t in texts if t not in cache))
    if missing:
        if len(cache) > 20_000:
            cache.clear()
        cache.update(zip(missing, reader.text_encoder.encode_text(missing), strict=True))
    return np.stack([cache[t] for t in texts])


def _image_support(reader, hits, config) -> Support | None:
    verified = [h for h in hits if h.via == "geometric"]
    if verified:  # local features agree on one placement: the picture is there, whatever its cosine
        best = max(verified, key=lambda h: h.score)
        return Support(True, min(1.0, best.score - 0.5), "image", best, {"geometric_score": round(best.score, 3)})
    visual = [h for h in hits if h.via == "image" and h.cosine is not None]
    if not visual:
        return None
    best = max(visual, key=lambda h: h.cosine)
    threshold = config.image_threshold(reader.encoder.name)
    strength = float(_scaled(np.array([best.cosine]), threshold)[0])
    detail = {"cosine": round(float(best.cosine), 3), "threshold": threshold}
    return Support(best.cosine >= threshold, strength, "image", best, detail)


def _clip_text_support(hits, config) -> Support | None:
    visual = [h for h in hits if h.via == "clip-text" and h.cosine is not None]
    if not visual:
        return None
    best = max(visual, key=lambda h: h.cosine)
    strength = float(_scaled(np.array([best.cosine]), config.clip_text_cosine)[0])
    detail = {"cosine": round(float(best.cosine), 3), "threshold": config.clip_text_cosine}
    return Support(best.cosine >= config.clip_text_cosine, strength, "clip-text", best, detail)


def _fine(hit: Hit) -> bool:
    e = hit.entry
    return e.store in ("text", "visual") or (e.store == "episodic" and e.scale == "clip")


def _scaled(values: np.ndarray, threshold: float) -> np.ndarray:
    """Piecewise-linear map of cosines to 0..1 with ``threshold`` at 0.5."""
    values = np.asarray(values, dtype=np.float64)
    low = 0.5 * np.clip(values, 0, None) / max(threshold, 1e-6)
    high = 0.5 + 0.5 * (values - threshold) / max(1.0 - threshold, 1e-6)
    return np.clip(np.where(values < threshold, low, high), 0.0, 1.0)
