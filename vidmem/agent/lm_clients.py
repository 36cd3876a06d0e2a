"""Chat clients for the model reasoners: an OpenAI-compatible endpoint over plain HTTP, and a local transformers model.

Both take chat messages (``[{"role", "content"}]``) and optional keyframe paths and return the
model's reply as text. Neither retries or falls back: an unreachable endpoint or a missing model is
one ``ReasonerError`` line.
"""

from __future__ import annotations

import base64
import json
import os
import urllib.error
import urllib.request
from pathlib import Path

from vidmem.errors import VidmemError

DEFAULT_BASE_URL = "https://api.openai.com/v1"


class ReasonerError(VidmemError):
    """The reasoner's model cannot be reached or loaded."""


class OpenAIClient:
    """``POST {base_url}/chat/completions`` with urllib (no SDK needed).

    Args:
        config: an ``OpenAIReasonerConfig``.
    """

    def __init__(self, config) -> None:
        self.config = config
        self.base_url = (config.base_url or os.environ.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL).rstrip("/")
        self.api_key = os.environ.get(config.api_key_env, "")

    def complete(self, messages: list[dict], images: list[str]) -> str:
        """The assistant's reply text to ``messages`` (keyframes attached to the last one when enabled)."""
        body = {
            "model": self.config.model,
            "messages": self._with_images(messages, images) if self.config.images and images else messages,
            "temperature": 0,
            "max_tokens": self.config.max_tokens,
        }
        if self.config.json_mode:
            body["response_format"] = {"type": "json_object"}
        reply = self._post("/chat/completions", body)
        try:
            return reply["choices"][0]["message"]["content"] or ""
        except (KeyError, IndexError, TypeError):
            raise ReasonerError(f"{self.base_url} answered without choices[0].message.content") from None

    def _post(self, path: str, body: dict) -> dict:
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        request = urllib.request.Request(self.base_url + path, json.dumps(body).encode(), headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=self.config.timeout) as response:
                return json.loads(response.read().decode("utf-8"))
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode("utf-8", "replace")[:200]
            raise ReasonerError(f"{self.base_url}{path} answered HTTP {exc.code}: {detail}") from None
        except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
            reason = getattr(exc, "reason", exc)
            raise ReasonerError(
                f"cannot reach the OpenAI-compatible endpoint {self.base_url} ({reason}); set OPENAI_BASE_URL"
            ) from None
        except json.JSONDecodeError:
            raise ReasonerError(f"{self.base_url}{path} did not answer JSON") from None

    @staticmethod
    def _with_images(messages: list[dict], images: list[str]) -> list[dict]:
        last = messages[-1]
        parts = [{"type": "text", "text": last["content"]}]
        for path in images:
            data = base64.b64encode(Path(path).read_bytes()).decode()
            parts.append({"type": "image_url", "image_url": {"url": f"data:image/jpeg;base64,{data}"}})
        return messages[:-1] + [{"role": last["role"], "content": parts}]


class TransformersClient:
    """A local causal LM, or a vision-language model that takes keyframes, loaded once.

    Args:
        config: a ``TransformersReasonerConfig``; ``model`` is a folder or a cached hub id.
    """

    def __init__(self, config) -> None:
        self.config = config
        self._load()

    def _load(self) -> None:
        import torch
        import transformers

        source = self.config.model
        try:
            model_config = transformers.AutoConfig.from_pretrained(source, local_files_only=True)
        except (OSError, ValueError) as exc:
            raise ReasonerError(
                f"transformers reasoner: no model at {source!r} (give a local model folder or a model id already "
                f"in the Hugging Face cache; nothing is downloaded): {str(exc).splitlines()[0]}"
            ) from None
        device = self.config.device
        self.device = ("cuda" if torch.cuda.is_available() else "cpu") if device == "auto" else device
        self.vision = self.config.images and hasattr(model_config, "vision_config")
        if self.vision:
            self.processor = transformers.AutoProcessor.from_pretrained(source, local_files_only=True)
            self.tokenizer = self.processor.tokenizer
            self.model = transformers.AutoModelForImageTextToText.from_pretrained(source, local_files_only=True)
        else:
            self.processor = None
            self.tokenizer = transformers.AutoTokenizer.from_pretrained(source, local_files_only=True)
            self.model = transformers.AutoModelForCausalLM.from_pretrained(source, local_files_only=True)
        self.model.to(self.device).eval()

    def complete(self, messages: list[dict], images: list[str]) -> str:
        """Greedy reply to ``messages``; keyframes go to a vision model's processor, else are left out."""
        import torch

        pictures = _open_images(images) if self.vision and images else []
        if pictures:
            content = [{"type": "image"} for _ in pictures] + [{"type": "text", "text": messages[-1]["content"]}]
            chat = messages[:-1] + [{"role": messages[-1]["role"], "content": content}]
            prompt = self.processor.apply_chat_template(chat, add_generation_prompt=True)
            inputs = self.processor(text=prompt, images=pictures, return_tensors="pt")
        else:
            inputs = self.tokenizer(self._prompt(messages), return_tensors="pt")
        inputs = {k: v.to(self.device) for k, v in inputs.items()}
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else self.tokenizer.eos_token_id
        with torch.inference_mode():
            out = self.model.generate(
                **inputs, max_new_tokens=self.config.max_new_tokens, do_sample=False, pad_token_id=pad
            )
        new = out[0, inputs["input_ids"].shape[1] :]
        return self.tokenizer.decode(new, skip_special_tokens=True).strip()

    def _prompt(self, messages: list[dict]) -> str:
        if getattr(self.tokenizer, "chat_template", None):
            return self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        # a base model without a chat template reads a plain transcript
        turns = [f"{m['role'].capitalize()}: {m['content']}" for m in messages]
        return "\n\n".join(turns) + "\n\nAssistant:"


def _open_images(paths: list[str]) -> list:
    from PIL import Image

    return [Image.open(p).convert("RGB") for p in paths if Path(p).is_file()]
