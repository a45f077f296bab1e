"""mistral_nb: experiment with Mistral chat models from a Jupyter notebook."""

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

__version__ = "0.1.0"

__all__ = [
    "APIError",
    "ImageError",
    "LocalMistralError",
    "MistralNBError",
    "SessionClosedError",
    "SettingsError",
    "ToolError",
    "TurnLogError",
]
