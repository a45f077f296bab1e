"""LocalMistral: an offline, Mistral-compatible chat endpoint for tests and notebooks.

::

    from mistral_nb.local import Fault, LocalMistral, Reasoning, ToolCall

    with LocalMistral(script=[ToolCall("get_weather", {"city": "Paris"})],
                      faults=[Fault.status(429, on=3)]) as server:
        client = openai.OpenAI(base_url=server.base_url, api_key=server.api_key)
        ...
        server.requests   # the JSON bodies it received

    model_card("mistral-small-latest")   # what it knows about a model, no server needed

Layout: ``_endpoint`` (the thread, lifecycle, public class), ``_http`` (aiohttp made quiet
and timed), ``_server`` (routes, faults, answers), ``_pipeline`` (the worker-thread part:
decoding, validation, reply), ``_stream`` (chunks and bodies per era), ``_schema`` (422
request schema), ``_rules`` (400 serving rules, images, context window), ``_tokens``
(tokenizer, usage, stream pieces), ``_replies``, ``_choices`` and ``_arguments`` (deterministic replies),
``_script`` (scripted replies), ``_faults`` (fault injection), ``_models`` and
``_catalogue`` (/v1/models), ``_state`` (history shared between threads), ``_wire`` (bodies,
ids, errors, headers), ``_serve`` (the ``mistral-nb serve`` command).

Importing this package does not import mistral-common or aiohttp: they load when a server
starts. The engine never imports ipywidgets or IPython.
"""

from ._catalogue import model_card
from ._endpoint import LocalMistral
from ._faults import Fault
from ._script import Reasoning, ToolCall
from ._serve import serve
from ._state import Exchange

__all__ = ["Exchange", "Fault", "LocalMistral", "Reasoning", "ToolCall", "model_card", "serve"]

for _name in __all__:
    _obj = globals()[_name]
    if hasattr(_obj, "__module__"):
        _obj.__module__ = __name__
del _name, _obj
