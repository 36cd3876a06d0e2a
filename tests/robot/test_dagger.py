"""DAgger rollouts: the learner acts, the expert labels every state the learner reaches."""

from __future__ import annotations

import numpy as np

from robot.envs import make_env
from robot.policies import build_policy
from robot.policies.dagger import record_learner_episodes
from robot.policies.train import config_for_env


def test_learner_rollouts_execute_the_learner_and_record_the_experts_labels():
    env = make_env("tmaze", depth=False)
    try:
        policy = build_policy("random", image_size=config_for_env("nomemory", env).image_size, goal_dim=1)
        demos, success = record_learner_episodes(policy, env, 2, seed=123)
        assert [d.seed for d in demos] == [123, 124] and 0.0 <= success <= 1.0
        for demo in demos:
            # Replay: the same seeded random learner takes the same actions, and at every state the
            # recorded label is what the expert says there, not what the learner did.
            obs = env.reset(seed=demo.seed)
            state = policy.new_state(seed=demo.seed)
            executed = []
            for t in range(demo.length):
                np.testing.assert_array_equal(obs["rgb"], demo.observations["rgb"][t])
                assert env.expert_action() == demo.actions[t]
                action = int(policy.infer_batch([obs], [state])[0]["actions"][0])
                executed.append(action)
                obs, done = env.step(action)
                assert done == (t == demo.length - 1)
            assert executed != demo.actions.tolist()  # a random learner does not follow the expert
    finally:
        env.close()
