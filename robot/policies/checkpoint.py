"""Policy checkpoints: config (JSON) and weights (plain tensors) in one ``torch.save`` file.

Loading uses ``torch.load(weights_only=True)``, so a checkpoint can never run code; a file that
is not a vidmem policy checkpoint, or holds another architecture than the caller expects, is
refused with a one-line ``CheckpointError``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from robot.policies.base import CheckpointError, MemoryPolicy
from robot.policies.config import PolicyConfig

FORMAT = "vidmem-policy/1"


def save_checkpoint(policy: MemoryPolicy, path: str | Path, info: dict[str, Any] | None = None) -> Path:
    """Writes ``policy``'s config and weights to ``path`` atomically (a crash leaves the old file)."""
    import torch

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    weights = {} if policy.net is None else {k: v.detach().cpu().clone() for k, v in policy.net.state_dict().items()}
    payload = {
        "format": FORMAT,
        "config": policy.config.to_json(),
        "trained": bool(policy.trained),
        "info": json.dumps(info or {}),
        "weights": weights,
    }
    tmp = path.with_name(path.name + ".tmp")
    torch.save(payload, tmp)
    os.replace(tmp, path)
    return path


def read_checkpoint(path: str | Path) -> tuple[PolicyConfig, dict[str, Any], dict[str, Any]]:
    """Reads ``(config, weights, header)`` from a checkpoint; ``header`` has ``trained`` and ``info``."""
    import torch

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no policy checkpoint at {path}")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # any unreadable or unsafe file is "not a checkpoint"
        raise CheckpointError(f"{path} is not a vidmem policy checkpoint ({type(exc).__name__})") from exc
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a vidmem policy checkpoint (format {FORMAT} expected)")
    try:
        config = PolicyConfig.from_json(payload["config"])
    except (ValueError, TypeError, KeyError) as exc:
        raise CheckpointError(f"{path} holds an invalid policy config: {exc}") from exc
    header = {"trained": bool(payload.get("trained")), "info": json.loads(payload.get("info") or "{}")}
    return config, payload.get("weights") or {}, header


def load_checkpoint(path: str | Path, expect: PolicyConfig | None = None) -> MemoryPolicy:
    """Builds the policy stored at ``path``.

    Args:
        path: a file written by ``save_checkpoint``.
        expect: when given, the checkpoint's architecture must equal this config's.

    Raises:
        CheckpointError: missing or foreign file, another architecture, or weights that do not fit.
    """
    from robot.policies.network import PolicyNet

    config, weights, header = read_checkpoint(path)
    if expect is not None:
        check_architecture(config, expect, path)
    policy = MemoryPolicy(config, net=None if config.head == "random" else PolicyNet(config), trained=header["trained"])
    if policy.net is not None:
        try:
            policy.net.load_state_dict(weights, strict=True)
        except RuntimeError as exc:
            first = str(exc).strip().splitlines()[0]
            raise CheckpointError(f"{path}: weights do not fit the {config.memory!r} architecture: {first}") from exc
        policy.net.eval()
    return policy


def check_architecture(found: PolicyConfig, expect: PolicyConfig, path: str | Path) -> None:
    """Raises ``CheckpointError`` naming the differing fields when two configs' architectures differ."""
    a, b = found.architecture(), expect.architecture()
    diff = [f"{k}={a[k]!r} (expected {b[k]!r})" for k in sorted(a) if a[k] != b.get(k)]
    if diff:
        raise CheckpointError(
            f"{path} holds a {found.memory!r} policy, another architecture than {expect.name!r}: {', '.join(diff[:4])}"
        )
