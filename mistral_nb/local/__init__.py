"""LocalMistral: an offline, Mistral-compatible chat endpoint for tests and notebooks.

::

    from mistral_nb.local import Fault, LocalMistral, ToolCall

    with LocalMistral(script=[ToolCall("get_weather", {"city": "Paris"})],
                      faults=[Fault.status(429, on=3)]) as server:
        client = openai.OpenAI(base_url=server.base_url, api_key=server.api_key)
        ...
        server.requests   # the JSON bodies it received

Layout: ``_endpoint`` (the thread, lifecycle, public class), ``_server`` (HTTP and SSE),
``_schema`` (422 request schema), ``_rules`` (400 serving rules, images, context window),
``_tokens`` (tokenizer, usage, stream pieces), ``_replies`` and ``_arguments``
(deterministic and scripted replies), ``_faults`` (fault injection), ``_catalogue``
(/v1/models), ``_state`` (history shared between threads), ``_wire`` (bodies, ids, headers).
The engine never imports ipywidgets or IPython.
"""

from ._endpoint import LocalMistral, serve
from ._faults import Fault
from ._replies import ToolCall
from ._state import Exchange

__all__ = ["Exchange", "Fault", "LocalMistral", "ToolCall", "serve"]

for _name in __all__:
    _obj = globals()[_name]
    if hasattr(_obj, "__module__"):
        _obj.__module__ = __name__
del _name, _obj
