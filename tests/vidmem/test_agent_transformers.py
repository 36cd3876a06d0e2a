"""The ``transformers`` reasoner with a tiny random-weight GPT-2 and a tokenizer trained here (no download)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.vidmem.agent_fixtures import spoken_store  # noqa: F401  (fixture)
from vidmem.agent.agent import AgentConfig, RetrievalAgent
from vidmem.storage.store import MemoryStore

CHAT_TEMPLATE = "{% for m in messages %}<{{ m['role'] }}>{{ m['content'] }}\n{% endfor %}<assistant>"


@pytest.fixture(scope="module")
def tiny_lm(tmp_path_factory) -> Path:
    """A folder with a 1-layer GPT-2 (random weights) and a byte-level BPE tokenizer trained on a few lines."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    corpus = ['{"action": "search", "memory": "text", "query": "fridge"}', '{"answer": "At 0:12 the chef opens it"}',
              "Question: When is it said? Memories you can search: episodic@clip, text, visual"] * 20  # fmt: skip
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=400, special_tokens=["<unk>", "</s>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())  # fmt: skip
    tok.train_from_iterator(corpus, trainer)
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="</s>", unk_token="<unk>")
    tokenizer.chat_template = CHAT_TEMPLATE
    torch.manual_seed(0)
    config = GPT2Config(vocab_size=len(tokenizer), n_positions=8192, n_embd=32, n_layer=1, n_head=2,
                        eos_token_id=tokenizer.eos_token_id, bos_token_id=tokenizer.eos_token_id)  # fmt: skip
    folder = tmp_path_factory.mktemp("tiny-lm")
    GPT2LMHeadModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def test_tiny_model_loads_generates_and_its_garbage_falls_back(tiny_lm, spoken_store):  # noqa: F811
    manifest, store = spoken_store
    scene = manifest.scenes[3]
    config = AgentConfig(reasoner="transformers", model=str(tiny_lm))
    with MemoryStore(store) as s:
        agent = RetrievalAgent(s, config)
        agent.reasoner.client.config = type(agent.reasoner.client.config)(model=str(tiny_lm), max_new_tokens=8)
        answer = agent.ask(f"When is it said that {scene.caption.lower()}?")
    fallbacks = [r for r in answer.trace if r["round"] == "fallback"]
    assert fallbacks and isinstance(fallbacks[0]["raw"], str)
    with pytest.raises(json.JSONDecodeError):
        json.loads(fallbacks[0]["raw"])  # random weights do not speak JSON: the fallback is exercised for real
    final = next(r for r in answer.trace if r["round"] == "answer")
    assert final["by"] == "embedded" and "raw" in final
    assert answer.found and scene.caption in answer.text


def test_client_uses_the_chat_template_and_stops_at_max_new_tokens(tiny_lm):
    from vidmem.agent.lm_clients import TransformersClient
    from vidmem.agent.models import TransformersReasonerConfig

    client = TransformersClient(TransformersReasonerConfig(model=str(tiny_lm), max_new_tokens=5, device="cpu"))
    messages = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hello"}]
    assert client._prompt(messages) == "<system>be brief\n<user>hello\n<assistant>"
    reply = client.complete(messages, [])
    assert isinstance(reply, str)
    assert len(client.tokenizer(reply)["input_ids"]) <= 5 + 2  # re-tokenising may split a token or two


def test_missing_model_is_one_line(tmp_path):
    from vidmem.agent.lm_clients import ReasonerError
    from vidmem.agent.reasoner import REASONERS

    with pytest.raises(ReasonerError) as err:
        REASONERS.build("transformers", model=str(tmp_path / "no-such-model"))
    message = str(err.value)
    assert message.startswith("transformers reasoner: no model at") and "nothing is downloaded" in message
    assert "\n" not in message


@pytest.mark.weights
def test_real_model_answers_a_present_question_and_abstains_on_an_absent_one(spoken_store):  # noqa: F811
    """Needs ``VIDMEM_TEST_LM``: a local instruct model folder (or cached id), e.g. Qwen2.5-0.5B-Instruct."""
    model = os.environ.get("VIDMEM_TEST_LM")
    if not model:
        pytest.fail("set VIDMEM_TEST_LM to a local instruct model to run this weights test")
    manifest, store = spoken_store
    scene = manifest.scenes[2]
    with MemoryStore(store) as s:
        agent = RetrievalAgent(s, AgentConfig(reasoner="transformers", model=model))
        present = agent.ask(f"When is it said that {scene.caption.lower()}?")
        absent = agent.ask("When does the elephant dance on the piano?")
    assert present.found and scene.t_start - 1 <= present.evidence[0].t_start <= scene.t_end
    assert absent.found is False
