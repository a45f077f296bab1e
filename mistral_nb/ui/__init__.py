"""Widget panels for a :class:`mistral_nb.Session`, for Jupyter.

::

    import mistral_nb as mnb
    from mistral_nb.ui import playground

    session = mnb.Session()
    playground(session)          # chat on top; settings, tools and the log in tabs

The panels (``ChatPanel``, ``SettingsPanel``, ``ToolsPanel``, ``ImageUpload``,
``LogView``) also work on their own.  They are a thin layer over the engine: they call
``Session`` methods and follow ``Session.subscribe`` events, and never import pipecat.
They are plain ipywidgets 8, plus three small anywidget pieces for what ipywidgets lacks
(``_web.py``: a message box where Enter sends, a file picker, a copy button), which run
in JupyterLab, Notebook 7, Voilà and VS Code with no build step.  Every callback reports
its errors in the panel's status line; long work runs as asyncio tasks or on a worker
thread; a streaming reply is redrawn at most ten times a second, one turn at a time.
The API key never enters a widget.
"""

from ._chat_panel import ChatPanel
from ._image_upload import ImageUpload
from ._log_view import LogView
from ._playground import Playground, playground
from ._settings_panel import SettingsPanel
from ._tools_panel import ToolsPanel

__all__ = [
    "ChatPanel",
    "ImageUpload",
    "LogView",
    "Playground",
    "SettingsPanel",
    "ToolsPanel",
    "playground",
]

for _name in __all__:
    _obj = globals()[_name]
    if getattr(_obj, "__module__", "").startswith("mistral_nb.ui."):
        _obj.__module__ = "mistral_nb.ui"
del _name, _obj
