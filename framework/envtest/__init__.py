"""Local control plane for tests and local runs: the embedded API server and `Environment`.

Imported by tests, the CLI and hack scripts; never by runtime modules.
"""

from framework.envtest.environment import Environment

__all__ = ["Environment"]
