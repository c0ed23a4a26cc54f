"""The one exception type for mistakes a user can fix: shown as a paragraph, never a traceback."""


class UserError(Exception):
    """A problem with input, environment or configuration, with a message that says how to fix it."""
