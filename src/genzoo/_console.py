"""The consoles genzoo prints to: stdout for results, stderr for messages.

Off a terminal (a log file, a pipe, CI) nothing is wrapped at 80 columns, so paths, URLs and
commands in messages stay on one line and can be copied; tables get a wide page instead.
"""

from __future__ import annotations

import os

from rich.console import Console

#: Page width for tables when the output is not a terminal and ``$COLUMNS`` is not set.
WIDE = 200


def console(stderr: bool = False) -> Console:
    """A rich console that never wraps messages; a wide page off a terminal."""
    c = Console(stderr=stderr, soft_wrap=True)
    if not c.is_terminal and not os.environ.get("COLUMNS"):
        c = Console(stderr=stderr, soft_wrap=True, width=WIDE)
    return c


def note(message: str) -> None:
    """One line on stderr, unwrapped (for things a user should know but that are not errors)."""
    console(stderr=True).print(message, markup=False, highlight=False)
