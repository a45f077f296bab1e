"""SettingsPanel: Mistral's settings as widgets, applied through ``Session.update_settings``.

Ranges come from :data:`mistral_nb.SETTINGS`; validation is the session's.  Every widget
shows what the session will send: a rejected value (a ``SettingsError``, shown in the
status line) puts the widget back to the value in force, and a change made in code
(``session.update_settings(...)``) moves the widgets too.

A setting Mistral may leave out has a checkbox next to its widget: "default" for the
sampling numbers (the model's own value), "no limit" for ``max_tokens``, "fixed seed" for
``random_seed``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ipywidgets import (
    HTML,
    Button,
    Checkbox,
    Combobox,
    FloatSlider,
    HBox,
    IntText,
    Layout,
    Textarea,
    VBox,
    Widget,
)

from .._session import Session, SessionEvent
from .._settings import SETTINGS
from ._status import StatusLine, guarded, release

__all__ = ["MODELS", "SettingsPanel"]

#: Model ids offered in the model box (any other id can be typed in).
MODELS = (
    "mistral-small-latest",
    "mistral-medium-latest",
    "mistral-large-latest",
    "ministral-3b-latest",
    "ministral-8b-latest",
    "ministral-14b-latest",
    "magistral-small-latest",
    "magistral-medium-latest",
    "pixtral-12b-latest",
    "pixtral-large-latest",
    "codestral-latest",
    "devstral-latest",
    "open-mistral-nemo",
)

_STYLE = {"description_width": "initial"}
# Where a slider rests while its setting is unset (the model's default applies).
_RESTING = {"temperature": 0.3, "top_p": 1.0, "frequency_penalty": 0.0, "presence_penalty": 0.0}
_SLIDERS = ("temperature", "top_p", "frequency_penalty", "presence_penalty")
_DEFAULT_MAX_TOKENS = 1024
_DEFAULT_SEED = 42


def _describe(name: str, value: Any) -> str:
    if value is None:
        return {
            "max_tokens": "no limit",
            "random_seed": "not fixed",
            "system_prompt": "none",
        }.get(name, "the model's default")
    if name == "system_prompt":
        text = value if len(value) <= 40 else value[:37] + "..."
        return repr(text)
    return f"{value:g}" if isinstance(value, float) else str(value)


class SettingsPanel(VBox):
    """Widgets for a session's settings: model, sampling, limits, seed, system prompt.

    Args:
        session: The :class:`mistral_nb.Session` whose settings the widgets change.

    Attributes:
        model: The model id (a ``Combobox``: pick one, or type any id and press Enter).
        sliders: ``{"temperature": FloatSlider, "top_p": ..., "frequency_penalty": ...,
            "presence_penalty": ...}``.
        defaults: ``{name: Checkbox}`` for the sliders: checked means "not sent, the
            model's default applies".
        max_tokens, no_limit: An ``IntText`` and a "no limit" ``Checkbox``; typing a
            number sets the limit.
        random_seed, fixed_seed: An ``IntText`` and a "fixed seed" ``Checkbox``
            (unchecked: no seed is sent); typing a number fixes the seed.
        safe_prompt: A ``Checkbox``.
        system_prompt, apply_system_prompt: A ``Textarea`` (applied when it loses focus)
            and a button that applies it.
        status: The status line: what changed, or the ``SettingsError``.
    """

    def __init__(self, session: Session, **kwargs: Any) -> None:
        self.session = session
        self._syncing = False
        self.status = StatusLine()
        settings = session.settings

        self.model = Combobox(
            description="model",
            options=list(MODELS),
            ensure_option=False,
            continuous_update=False,  # commit on Enter or blur, not per keystroke
            placeholder="a Mistral model id",
            tooltip=SETTINGS["model"].help,
            style=_STYLE,
        )
        self.sliders: dict[str, FloatSlider] = {}
        self.defaults: dict[str, Checkbox] = {}
        for name in _SLIDERS:
            setting = SETTINGS[name]
            step = 0.01
            minimum = float(setting.minimum or 0.0)
            if setting.exclusive_minimum:
                minimum += step
            self.sliders[name] = FloatSlider(
                description=name,
                min=minimum,
                max=float(setting.maximum if setting.maximum is not None else 2.0),
                step=step,
                value=_RESTING[name],
                readout_format=".2f",
                continuous_update=False,
                tooltip=f"{setting.help}; Mistral accepts {setting.describe_range()}",
                style=_STYLE,
                layout=Layout(width="420px"),
            )
            self.defaults[name] = Checkbox(
                description="default",
                tooltip="not sent: the model's default applies",
                indent=False,
                layout=Layout(width="auto"),
            )
        self.max_tokens = IntText(
            description="max_tokens",
            value=_DEFAULT_MAX_TOKENS,
            tooltip=SETTINGS["max_tokens"].help,
            style=_STYLE,
            layout=Layout(width="220px"),
        )
        self.no_limit = Checkbox(description="no limit", indent=False, layout=Layout(width="auto"))
        self.random_seed = IntText(
            description="random_seed",
            value=_DEFAULT_SEED,
            tooltip=SETTINGS["random_seed"].help,
            style=_STYLE,
            layout=Layout(width="220px"),
        )
        self.fixed_seed = Checkbox(
            description="fixed seed", indent=False, layout=Layout(width="auto")
        )
        self.safe_prompt = Checkbox(
            description="safe_prompt", tooltip=SETTINGS["safe_prompt"].help, style=_STYLE
        )
        self.system_prompt = Textarea(
            description="system prompt",
            placeholder="none (applied when the box loses focus)",
            continuous_update=False,  # applied on blur, not per keystroke
            rows=3,
            style=_STYLE,
            layout=Layout(width="100%"),
        )
        self.apply_system_prompt = Button(
            description="apply system prompt", tooltip="send this system prompt from now on"
        )
        self._sync(settings)

        rows: list[Widget] = [self.model]
        rows += [HBox([self.sliders[n], self.defaults[n]]) for n in _SLIDERS]
        rows += [
            HBox([self.max_tokens, self.no_limit]),
            HBox([self.random_seed, self.fixed_seed]),
            self.safe_prompt,
            self.system_prompt,
            self.apply_system_prompt,
            HTML(
                "<span style='font-size:smaller;color:#666'>Changes apply from the next "
                "request on.</span>"
            ),
            self.status,
        ]
        super().__init__(rows, **kwargs)

        for widget in (
            self.model,
            *self.sliders.values(),
            *self.defaults.values(),
            self.max_tokens,
            self.no_limit,
            self.random_seed,
            self.fixed_seed,
            self.safe_prompt,
            self.system_prompt,
        ):
            widget.observe(self._on_change, names="value")
        self.apply_system_prompt.on_click(self._on_apply_system_prompt)
        self._unsubscribe: Callable[[], None] | None = session.subscribe(self._on_event)

    # -- widgets -> session -----------------------------------------------------

    def _fields_for(self, widget: Widget) -> dict[str, Any]:
        """The settings a change of ``widget`` asks for."""
        if widget is self.model:
            return {"model": self.model.value.strip()}
        for name, slider in self.sliders.items():
            if widget is slider:
                return {name: slider.value}
            if widget is self.defaults[name]:
                return {name: None if widget.value else slider.value}
        # Typing a number sets a limit (or a seed); the checkbox alone switches it off or on.
        if widget is self.max_tokens:
            return {"max_tokens": self.max_tokens.value}
        if widget is self.no_limit:
            return {"max_tokens": None if self.no_limit.value else self.max_tokens.value}
        if widget is self.random_seed:
            return {"random_seed": self.random_seed.value}
        if widget is self.fixed_seed:
            return {"random_seed": self.random_seed.value if self.fixed_seed.value else None}
        if widget is self.safe_prompt:
            return {"safe_prompt": self.safe_prompt.value}
        if widget is self.system_prompt:
            return {"system_prompt": self.system_prompt.value.strip() or None}
        raise AssertionError(f"no setting for {widget!r}")  # pragma: no cover

    @guarded
    def _on_change(self, change: dict[str, Any]) -> None:
        if self._syncing:
            return
        self._apply(self._fields_for(change["owner"]))

    @guarded
    def _on_apply_system_prompt(self, _button: Button) -> None:
        self._apply(self._fields_for(self.system_prompt))

    def _apply(self, fields: dict[str, Any]) -> None:
        try:
            now = self.session.update_settings(**fields)
        except Exception:
            self._sync(self.session.settings)  # show what is really in force
            raise
        self._sync(now)
        said = ", ".join(f"{name} = {_describe(name, now[name])}" for name in fields)
        self.status.ok(f"{said} from the next request")

    # -- session -> widgets -------------------------------------------------------

    @guarded
    def _on_event(self, event: SessionEvent) -> None:
        if event.kind == "settings" and event.settings is not None:
            self._sync(event.settings)

    def _sync(self, settings: dict[str, Any]) -> None:
        """Show ``settings`` without reacting to our own changes."""
        self._syncing = True
        try:
            self.model.value = settings.get("model") or ""
            for name, slider in self.sliders.items():
                value = settings.get(name)
                self.defaults[name].value = value is None
                if value is not None:
                    slider.value = value
            if settings.get("max_tokens") is not None:
                self.max_tokens.value = settings["max_tokens"]
            self.no_limit.value = settings.get("max_tokens") is None
            if settings.get("random_seed") is not None:
                self.random_seed.value = settings["random_seed"]
            self.fixed_seed.value = settings.get("random_seed") is not None
            self.safe_prompt.value = bool(settings.get("safe_prompt"))
            self.system_prompt.value = settings.get("system_prompt") or ""
        finally:
            self._syncing = False

    # -- lifecycle ----------------------------------------------------------------

    def close(self) -> None:
        """Stop following the session, and close the widgets."""
        release(self)
        super().close()
