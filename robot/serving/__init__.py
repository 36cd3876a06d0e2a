"""The policy server (``vidmem serve-policy``): openpi's wire format, episodes, dynamic batching."""

from robot.serving.server import PolicyServer, ServerConfig, ServerThread

__all__ = ["PolicyServer", "ServerConfig", "ServerThread"]
