"""mistral_nb: experiment with Mistral chat models from a Jupyter notebook.

A :class:`Session` wraps pipecat's ``MistralLLMService`` in a long-lived
pipeline; :class:`TurnLog` keeps every token, tool call, setting and error;
:class:`ToolRegistry` turns plain functions into tools; :func:`to_base64_jpeg`
prepares images; :class:`LocalMistral` answers offline when no
``MISTRAL_API_KEY`` is set.  The widget panels live in ``mistral_nb.ui``.
"""

from loguru import logger as _logger

# pipecat logs every request (base64 images included) at DEBUG to stderr, which in
# a notebook lands in the cell's output; quiet it unless the user asks for it.
_logger.disable("pipecat")

from ._context_window import ContextWindowWarning
from ._errors import (
    APIError,
    ImageError,
    LocalMistralError,
    MistralNBError,
    SessionClosedError,
    SettingsError,
    ToolError,
    TurnLogError,
)
from ._images import (
    MAX_IMAGES_PER_REQUEST,
    PreparedImage,
    estimate_image_tokens,
    prepare_image,
    to_base64_jpeg,
)
from ._session import Session, SessionEvent
from ._settings import SETTINGS
from ._tools import Tool, ToolOutcome, ToolRegistry
from ._turn import CallRecord, Turn
from ._turnlog import TurnLog
from .local import Fault, LocalMistral, ToolCall

__version__ = "0.1.0"


def show_pipecat_logs(enabled: bool = True) -> None:
    """Let pipecat's own (loguru) log lines through again, or quiet them."""
    if enabled:
        _logger.enable("pipecat")
    else:
        _logger.disable("pipecat")


__all__ = [
    "MAX_IMAGES_PER_REQUEST",
    "SETTINGS",
    "APIError",
    "CallRecord",
    "ContextWindowWarning",
    "Fault",
    "ImageError",
    "LocalMistral",
    "LocalMistralError",
    "MistralNBError",
    "PreparedImage",
    "Session",
    "SessionClosedError",
    "SessionEvent",
    "SettingsError",
    "Tool",
    "ToolCall",
    "ToolError",
    "ToolOutcome",
    "ToolRegistry",
    "Turn",
    "TurnLog",
    "TurnLogError",
    "estimate_image_tokens",
    "prepare_image",
    "show_pipecat_logs",
    "to_base64_jpeg",
]

for _name in __all__:
    _obj = globals()[_name]
    if getattr(_obj, "__module__", "").startswith("mistral_nb."):
        try:
            _obj.__module__ = "mistral_nb"
        except (AttributeError, TypeError):
            pass
