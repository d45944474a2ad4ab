"""The operations console: the scheduler's state in a web page, served by ``serve``.

Layering: ``cli -> console -> scheduler -> engine``; nothing below imports it.
"""

from runner.console.app import ConsoleOptions, ConsoleSource, create_app
from runner.console.security import TOKEN_ENV, check_bind
from runner.console.server import ConsoleServer

__all__ = ["TOKEN_ENV", "ConsoleOptions", "ConsoleServer", "ConsoleSource", "check_bind",
           "create_app"]
