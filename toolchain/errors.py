"""The exception types for mistakes a user can fix: shown as a paragraph, never a traceback."""
from __future__ import annotations

import functools
from collections.abc import Callable


class UserError(Exception):
    """A problem with input, environment or configuration, with a message that says how to fix it."""


class SourceUnavailable(Exception):
    """One place could not supply a file; the next one may. `network` says whether the network or
    a server failed (HTTP status, no connection), rather than something on this machine, so that
    the message in the end names the real cause."""

    def __init__(self, reason: str, network: bool = True) -> None:
        super().__init__(reason)
        self.network = network


def reporting_user_errors(action: Callable[..., object]) -> Callable[..., object]:
    """Turn a UserError into doit's TaskFailed, which prints the message without a traceback."""
    @functools.wraps(action)
    def wrapper(*args, **kwargs):
        try:
            return action(*args, **kwargs)
        except UserError as error:
            from doit.exceptions import TaskFailed  # here: the runner, which imports this module, starts without doit
            return TaskFailed(str(error))
    return wrapper
