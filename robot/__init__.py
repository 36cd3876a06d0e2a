"""``robot``: memory for embodied agents, memory-conditioned policies, environments and serving.

Packages (each imports only what is named here; torch is imported lazily so ``import robot``
stays fast):

- ``robot.memory``: per-episode memories over a policy's tokens: the MemoryVLA
  perceptual-cognitive bank (``bank``), the Spatially-Aware Transformer's place-keyed memory with
  its Adaptive Memory Allocator (``spatial``), HCAM chunk attention (``chunks``), and ``StatePool``,
  which holds many episodes' states keyed by episode id under a byte bound.
- ``robot.policies``: ``MemoryPolicy`` = observation encoder + memory + action head (discrete
  navigation head or a DDIM diffusion head for continuous action chunks); ``load_policy(name or
  checkpoint)``; behaviour cloning from an environment's privileged expert.
- ``robot.envs``: the ``NavEnv`` protocol and tasks (MiniWorld, multi-object, the continuous
  ``cue_reach`` point task, the Habitat adapter).
- ``robot.serving`` / ``robot.client``: the policy server and its torch-free client.

Note: the import name ``robot`` is shared with Robot Framework; do not install both in one env.
"""
