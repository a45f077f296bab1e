"""The exceptions mistral_nb raises.

Every one of them derives from :class:`MistralNBError`, and most also from the
builtin that fits, so ``except ValueError`` keeps working for bad input::

    MistralNBError
    ├── SettingsError        (ValueError)   a setting out of Mistral's range, an unknown setting
    ├── MessageTooLargeError (ValueError)   a message that cannot fit the model's context window
    ├── ToolError            (ValueError)   a function that cannot become a tool, an unknown tool
    ├── ImageError           (ValueError)   an input that cannot become a JPEG for Mistral
    ├── DocumentError        (ValueError)   an input that cannot be sent as a PDF document
    ├── TurnLogError         (ValueError)   a journal that cannot be read
    ├── ExperimentError      (ValueError)   a sweep, compare, replay or batch that cannot run as asked
    ├── APIError                            Mistral (or the local endpoint) answered with an error
    ├── SessionClosedError   (RuntimeError) the session was used after close()
    ├── SessionBusyError     (RuntimeError) reset()/rewind() while a turn is running
    ├── RuntimeMisuseError   (RuntimeError) a blocking call from the session's own thread
    ├── LocalMistralError    (RuntimeError) the offline endpoint could not start or stop
    └── BatchJobError        (RuntimeError) a batch job failed, timed out or was cancelled

    MistralNBWarning         (UserWarning)
    └── JournalWarning       (RuntimeWarning) the journal missed a turn, or skipped unreadable lines

Messages say what went wrong, the offending value, and what to do about it.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "APIError",
    "BatchJobError",
    "DocumentError",
    "ExperimentError",
    "ImageError",
    "JournalWarning",
    "LocalMistralError",
    "MessageTooLargeError",
    "MistralNBError",
    "MistralNBWarning",
    "RuntimeMisuseError",
    "SessionBusyError",
    "SessionClosedError",
    "SettingsError",
    "ToolError",
    "TurnLogError",
]


class MistralNBError(Exception):
    """Base class of every error mistral_nb raises on purpose."""


class SettingsError(MistralNBError, ValueError):
    """A setting is unknown or outside the range Mistral accepts.

    Attributes:
        field: The setting's name, as the caller spelled it.
        value: The rejected value.
    """

    def __init__(self, message: str, *, field: str | None = None, value: Any = None) -> None:
        super().__init__(message)
        self.field = field
        self.value = value


class MessageTooLargeError(MistralNBError, ValueError):
    """A message that cannot fit the model's context window, refused before sending."""


class ToolError(MistralNBError, ValueError):
    """A function cannot become a tool, or a tool name is unknown.

    Attributes:
        tool: The tool (function) name concerned, when known.
        parameter: The parameter at fault, when there is one.
    """

    def __init__(
        self, message: str, *, tool: str | None = None, parameter: str | None = None
    ) -> None:
        super().__init__(message)
        self.tool = tool
        self.parameter = parameter


class ImageError(MistralNBError, ValueError):
    """An input cannot be turned into a JPEG that Mistral accepts."""


class DocumentError(MistralNBError, ValueError):
    """An input cannot be sent to Mistral as a PDF document (not a PDF, too large, locked)."""


class TurnLogError(MistralNBError, ValueError):
    """A turn-log journal cannot be read or opened (another session is writing to it)."""


class ExperimentError(MistralNBError, ValueError):
    """A sweep, comparison, replay or batch was asked for in a way that cannot run.

    For instance an empty grid, a turn that is not in the log, a batch file that is not
    Mistral's format.  Bad settings are a :class:`SettingsError` instead.
    """


class BatchJobError(MistralNBError, RuntimeError):
    """A batch job ended without results (failed, timed out, cancelled), or is not done.

    Attributes:
        job_id: The batch job's id.
        status: Its status as Mistral reports it (``FAILED``, ``CANCELLED``...).
    """

    def __init__(self, message: str, *, job_id: str | None = None, status: str | None = None):
        super().__init__(message)
        self.job_id = job_id
        self.status = status


class APIError(MistralNBError):
    """Mistral (or the local endpoint) answered a request with an error.

    Attributes:
        status_code: The HTTP status, or None when no response came (a cut stream, a timeout).
        category: pipecat's ``ErrorCategory`` name for the failure, when pipecat gave one.
        body: The error body the server sent, when there was one.
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        category: str | None = None,
        body: Any = None,
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.category = category
        self.body = body


class SessionClosedError(MistralNBError, RuntimeError):
    """The session was used after it was closed."""


class SessionBusyError(MistralNBError, RuntimeError):
    """A call that changes the conversation was made while a turn is running."""


class RuntimeMisuseError(MistralNBError, RuntimeError):
    """A blocking session call from the session's own thread, where it would deadlock."""


class LocalMistralError(MistralNBError, RuntimeError):
    """The offline endpoint could not start, or was used while stopped."""


class MistralNBWarning(UserWarning):
    """Base class of the warnings mistral_nb gives."""


class JournalWarning(MistralNBWarning, RuntimeWarning):
    """The journal on disk missed a turn (it is still in memory), or had unreadable lines.

    A failed write never costs a turn: the turn stays in ``session.log`` and is
    written with the next one once the disk accepts it.  Loading a journal skips
    the lines it cannot read and lists them in ``TurnLog.load_problems``.
    """
