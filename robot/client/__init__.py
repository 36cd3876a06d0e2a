"""Thin robot-side client of the policy server. Imports only numpy, msgpack and websockets."""

from robot.client.client import PolicyClient, ServerError
from robot.client.wire import WireError, packb, unpackb

__all__ = ["PolicyClient", "ServerError", "WireError", "packb", "unpackb"]
