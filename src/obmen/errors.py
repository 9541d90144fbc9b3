"""One error tree for all of obmen, classified by what the caller should do next.

```
ObmenError
├── TransientError(retry_after)   try again later: 503, 429, timeouts, HTML instead of JSON, lost leases
│   └── RateLimited               the remote asked us to slow down (QUERY_LIMIT_EXCEEDED, 429)
├── PermanentError                retrying is useless: park the work item with this reason
│   ├── AuthError                 credentials are wrong or revoked: needs an operator (re-auth)
│   ├── NotFound                  the remote object does not exist (any more)
│   └── ProtocolError             the remote answered something we cannot understand
├── SkippableError                log it and carry on with the rest of the batch
└── ConfigError                   the configuration is invalid: stop at startup with exit code 2
```

Every connector maps its failures into this tree in exactly one place and raises with
`raise ... from exc`; no bare library exception crosses a package boundary (STYLE §6.5).
"""

from __future__ import annotations

__all__ = [
    "AuthError",
    "ConfigError",
    "NotFound",
    "ObmenError",
    "PermanentError",
    "ProtocolError",
    "RateLimited",
    "SkippableError",
    "TransientError",
]


class ObmenError(Exception):
    """Root of every error obmen raises on purpose."""


class TransientError(ObmenError):
    """A failure that may succeed on a later attempt; `retry_after` is a hint in seconds."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class RateLimited(TransientError):
    """The remote refused the call because of its rate or operating-time limit."""


class PermanentError(ObmenError):
    """A failure that will repeat on every attempt until something outside changes."""


class AuthError(PermanentError):
    """The remote rejected our credentials; an operator must re-authorise the connection."""


class NotFound(PermanentError):
    """The remote object does not exist."""


class ProtocolError(PermanentError):
    """The remote answered in a shape the protocol does not allow."""


class SkippableError(ObmenError):
    """One record cannot be processed; the rest of the batch goes on."""


class ConfigError(ObmenError):
    """The configuration is invalid; one line naming the file, key, value and what is allowed."""
