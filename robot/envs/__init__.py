"""Navigation environments behind one ``NavEnv`` protocol (Habitat's vocabulary).

``make_env(name, seed=0, **options)`` builds a registered task (``tmaze``, ``sign``,
``multiobject`` on MiniWorld; see ``robot.envs.miniworld_tasks``). Simulators are imported when an
environment is built, not here. The Habitat adapter (``robot.envs.habitat_adapter``) is separate and
nothing depends on it.
"""

from robot.envs.base import ACTIONS, ENVS, EnvError, Episode, Goal, NavEnv, env_names, make_env

__all__ = ["ACTIONS", "ENVS", "EnvError", "Episode", "Goal", "NavEnv", "env_names", "make_env"]
