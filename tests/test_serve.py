"""Moved: the server tests are in tests/serve/, LiveServer in tests/live_server.py.

This file stays only because tests/test_web.py imports LiveServer from here; delete it once that import reads
`from tests.live_server import LiveServer`.
"""

from tests.live_server import LiveServer

__all__ = ["LiveServer"]
