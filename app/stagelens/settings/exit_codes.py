"""What every `stagelens` command exits with (the window and the subcommands alike)."""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAILED = 1  # the work could not be done: the engine failed, the window or its self-test failed
EXIT_ENGINE = EXIT_FAILED  # an engine error while answering (the message starts "engine error:")
EXIT_BAD_INPUT = 2  # bad arguments, files or values: one line on stderr, "stagelens: error: ..."
EXIT_NO_DISPLAY = EXIT_BAD_INPUT  # the window cannot open here (no display): fixable by the user, like bad input
EXIT_INTERRUPTED = 130  # Ctrl+C (128 + SIGINT); a paused download too
