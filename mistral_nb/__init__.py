"""mistral_nb: experiment with Mistral chat models from a Jupyter notebook.

A :class:`Session` wraps pipecat's ``MistralLLMService`` in a long-lived
pipeline; :class:`TurnLog` keeps every token, tool call, setting and error;
:class:`ToolRegistry` turns plain functions into tools; :func:`to_base64_jpeg`
prepares images; :class:`LocalMistral` answers offline when no
``MISTRAL_API_KEY`` is set.  The widget panels live in ``mistral_nb.ui``.
"""

from . import batch
from ._compare import Comparison
from ._context_window import ContextWindowWarning
from ._documents import PreparedDocument, prepare_document
from ._errors import (
    APIError,
    BatchJobError,
    DocumentError,
    ExperimentError,
    ImageError,
    JournalWarning,
    LocalMistralError,
    MessageTooLargeError,
    MistralNBError,
    MistralNBWarning,
    RuntimeMisuseError,
    SessionBusyError,
    SessionClosedError,
    SettingsError,
    ToolError,
    TurnLogError,
)
from ._events import EventKind, TokenKind
from ._images import (
    MAX_IMAGES_PER_REQUEST,
    PreparedImage,
    estimate_image_tokens,
    prepare_image,
    to_base64_jpeg,
)
from ._plots import plot_calls, plot_latency, plot_tokens
from ._session import Session, SessionEvent
from ._settings import SETTINGS, Setting
from ._sweep import distinct_answers, sweep
from ._sweep_plot import plot_sweep
from ._tools import Tool, ToolOutcome, ToolRegistry
from ._turn import CallRecord, Turn, TurnStatus
from ._turn_records import CallStatus
from ._turnlog import LoadProblem, TurnLog

__version__ = "0.1.0"


def __getattr__(name: str) -> object:
    # LocalMistral pulls in mistral-common (and jsonschema's format checkers): load it
    # when first used, so that `import mistral_nb` stays fast.
    if name == "LocalMistral":
        from .local import LocalMistral

        LocalMistral.__module__ = "mistral_nb"
        return LocalMistral
    raise AttributeError(f"module 'mistral_nb' has no attribute {name!r}")


def show_pipecat_logs(enabled: bool = True) -> None:
    """Let pipecat's own (loguru) log lines through again, or quiet them."""
    from loguru import logger as _logger

    from . import _pipecat  # quiets pipecat when first imported: do that first

    del _pipecat
    if enabled:
        _logger.enable("pipecat")
    else:
        _logger.disable("pipecat")


__all__ = [
    "MAX_IMAGES_PER_REQUEST",
    "SETTINGS",
    "APIError",
    "BatchJobError",
    "CallRecord",
    "CallStatus",
    "Comparison",
    "ContextWindowWarning",
    "DocumentError",
    "EventKind",
    "ExperimentError",
    "ImageError",
    "JournalWarning",
    "LoadProblem",
    "LocalMistral",
    "LocalMistralError",
    "MessageTooLargeError",
    "MistralNBError",
    "MistralNBWarning",
    "PreparedDocument",
    "PreparedImage",
    "RuntimeMisuseError",
    "Session",
    "SessionBusyError",
    "SessionClosedError",
    "SessionEvent",
    "Setting",
    "SettingsError",
    "TokenKind",
    "Tool",
    "ToolError",
    "ToolOutcome",
    "ToolRegistry",
    "Turn",
    "TurnLog",
    "TurnLogError",
    "TurnStatus",
    "batch",
    "distinct_answers",
    "estimate_image_tokens",
    "plot_calls",
    "plot_latency",
    "plot_sweep",
    "plot_tokens",
    "prepare_document",
    "prepare_image",
    "show_pipecat_logs",
    "sweep",
    "to_base64_jpeg",
]

for _name in __all__:
    if _name == "LocalMistral":
        continue
    _obj = globals()[_name]
    if getattr(_obj, "__module__", "").startswith("mistral_nb."):
        try:
            _obj.__module__ = "mistral_nb"
        except (AttributeError, TypeError):
            pass
