"""The one exception type users see: a message that names the thing that is wrong and how to fix it."""


class ReproError(Exception):
    """Bad input or a missing resource. The CLI prints the message alone, without a traceback."""
