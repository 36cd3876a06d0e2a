"""DAgger-style data aggregation for behaviour cloning (Ross et al., 2011).

A cloned policy only ever saw the expert's states (plus small perturbations), so its own mistakes
lead it to states it never learnt to leave, and errors compound: on ``multiobject`` most failures
were STOPs called next to the wrong box. DAgger rolls out the learner itself, labels every state
it visits with the privileged expert's action, adds those episodes to the demonstrations and
trains again, so the policy learns what to do where *it* goes. The learner's action is the one
executed (the expert only labels), and an episode the learner ends with a wrong STOP still keeps
the expert's label for that step, which is exactly the correction such a policy needs.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from robot.policies.base import MemoryPolicy
from robot.policies.demos import Demonstration, record_episode


def record_learner_episodes(
    policy: MemoryPolicy,
    env,
    episodes: int,
    seed: int,
    progress: Callable[[int], None] | None = None,
) -> tuple[list[Demonstration], float]:
    """Plays ``episodes`` seeded episodes with ``policy`` acting and the env's expert labelling.

    Args:
        policy: the learner (its greedy or sampled actions are executed).
        env: a ``NavEnv`` or continuous env with ``expert_action()`` from any state.
        episodes: how many episodes (seeds ``seed``, ``seed+1``, ...).
        seed: first episode seed; keep it apart from the demonstration and evaluation seeds.
        progress: called with 1 after each episode.

    Returns:
        The labelled episodes (``success`` is the learner's) and the learner's success rate.
    """
    continuous = policy.config.head == "diffusion"
    demos = []
    for i in range(episodes):
        state = policy.new_state(seed=seed + i)

        def act(obs: dict[str, np.ndarray], label: object, state=state) -> object:
            del label  # the learner acts; the expert's label is only recorded
            actions = policy.infer_batch([obs], [state])[0]["actions"]
            return actions[0] if continuous else int(actions[0])

        demos.append(record_episode(env, seed + i, act))
        if progress is not None:
            progress(1)
    return demos, float(np.mean([d.success for d in demos])) if demos else 0.0
