"""The one error type of the serving side: a request the server refused or could not answer.

The stand-in raises it with TF Serving's gRPC status code name (`NOT_FOUND`, `INVALID_ARGUMENT`, ...)
and message, which become the HTTP status or the gRPC status of the reply; the client raises it for a
failed request (with the code the server sent, when it sent one) and `ServerUnusable` for failures that
every further request would repeat.
"""

from __future__ import annotations


class ServingError(Exception):
    """A refused or failed request: `message` says what and why, `code` is a gRPC status code name."""

    def __init__(self, message: str, code: str = "UNKNOWN"):
        super().__init__(message)
        self.message = message
        self.code = code


class ServerUnusable(ServingError):
    """A failure that every further request would repeat (no connection, unknown model or signature)."""
