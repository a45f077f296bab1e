"""SettingsPanel: one control per row of the settings table, applied through
``Session.update_settings``.

The rows come from :data:`mistral_nb._settings.SETTINGS` (one table, many views): a
number with a range is a slider, any other number a number box, a choice a dropdown, a
flag a checkbox, text a text area; the model is a box listing the models the endpoint
serves (``Session.models()``), where any other id can still be typed.  Labels share one
column and sliders one track length; the tooltip is the table's description.

Every control shows what the session will send: a rejected value (a ``SettingsError``,
shown in the status line) puts the control back to the value in force, and a change
made in code (``session.update_settings(...)``) moves the controls too.  A setting the
model may decide has a checkbox beside it ("model default", "no limit", "random"):
checked, nothing is sent.
"""

from __future__ import annotations

import asyncio
import html
import math
from collections.abc import Callable
from typing import Any

from ipywidgets import (
    HTML,
    Button,
    Checkbox,
    Combobox,
    Dropdown,
    FloatSlider,
    HBox,
    IntText,
    Label,
    Layout,
    Text,
    Textarea,
    VBox,
    Widget,
)

from .._session import Session, SessionEvent
from .._settings import SETTINGS, Setting
from ._models import describe_model, find_card, model_names
from ._status import ShownAsWidget, StatusLine, guarded, release, schedule
from ._style import stylesheet
from ._web import CopyButton

__all__ = ["SettingsPanel", "settings_code"]

_LABEL_WIDTH = "150px"
_SIDE_WIDTH = "150px"
_UNSET_LABELS = {"max_tokens": "no limit", "random_seed": "random", "system_prompt": "none"}
# Where a control rests while its setting is unset and the table names no default.
_RESTING: dict[str, Any] = {"temperature": 0.7, "max_tokens": 1024, "random_seed": 42}
_UNSET_CHOICE = ""  # a Dropdown's value cannot be None: "" stands for "not sent"
_SLIDER_DECIMALS = 2  # sliders step by 0.01 and read out (and send) two decimals


def _choices(setting: Setting) -> tuple[Any, ...] | None:
    return getattr(setting, "choices", None)


def _default(setting: Setting) -> Any:
    return getattr(setting, "default", None)


def _description(setting: Setting) -> str:
    text = str(getattr(setting, "description", "") or getattr(setting, "help", ""))
    return f"{text}. Mistral accepts {setting.describe_range()}"


def settings_code(settings: dict[str, Any], variable: str = "session") -> str:
    """The ``update_settings(...)`` call that reproduces ``settings``, one field a line."""
    fields = [f"    {name}={settings.get(name)!r}," for name in SETTINGS if name in settings]
    return f"{variable}.update_settings(\n" + "\n".join(fields) + "\n)"


def _is_slider(setting: Setting) -> bool:
    return (
        setting.kind is float
        and setting.minimum is not None
        and setting.maximum is not None
        and _choices(setting) is None
    )


class SettingsPanel(ShownAsWidget, VBox):
    """Controls for a session's settings, generated from the settings table.

    Args:
        session: The :class:`mistral_nb.Session` whose settings the controls change.

    Attributes:
        controls: ``{setting name: widget}`` in the table's order (``model`` is a
            ``Combobox``, ranged numbers ``FloatSlider``, other numbers ``IntText``, choices
            ``Dropdown``, flags ``Checkbox``, text ``Textarea``).
        unset: ``{setting name: Checkbox}`` for the settings the model may decide:
            checked, the setting is not sent.
        model, sliders: ``controls["model"]``; the ``FloatSlider`` controls by name.
        model_info: What the selected model offers (vision, tools, context length).
        apply_system_prompt: Applies the system prompt (it also applies on leaving the box).
        reset_button: Every setting but the model back to Mistral's default.
        copy_button: Copies the ``update_settings(...)`` call shown in ``code``.
        status: What changed, or the ``SettingsError``.
    """

    def __init__(self, session: Session, **kwargs: Any) -> None:
        self.session = session
        self._syncing = False
        self.status = StatusLine()
        self.models: list[dict[str, Any]] = []
        self.pending: asyncio.Task[None] | None = None
        self.controls: dict[str, Widget] = {}
        self.unset: dict[str, Checkbox] = {}
        self._resting: dict[str, Any] = {}
        rows: list[Widget] = [stylesheet()]
        self.model_info = HTML(layout=Layout(margin=f"0 0 4px {_LABEL_WIDTH}"))
        self.apply_system_prompt = Button(
            description="apply",
            tooltip="send this system prompt from now on",
            layout=Layout(width="auto"),
        )
        for name, setting in SETTINGS.items():
            control = self._control(name, setting)
            if control is None:
                continue  # a kind this panel has no control for (set it from code)
            self.controls[name] = control
            rows.append(self._row(name, setting, control))
            if name == "model":
                rows.append(self.model_info)
        self.model: Combobox = self.controls["model"]  # type: ignore[assignment]
        self.sliders: dict[str, FloatSlider] = {
            n: c for n, c in self.controls.items() if isinstance(c, FloatSlider)
        }
        self.reset_button = Button(
            description="reset to defaults",
            icon="undo",
            layout=Layout(width="auto"),
            tooltip="every setting but the model back to Mistral's default",
        )
        self.copy_button = CopyButton(
            description="copy as code", tooltip="copy the update_settings(...) call below"
        )
        self.code = HTML()
        self.cost = HTML()
        rows += [
            HBox(
                [self.reset_button, self.copy_button],
                layout=Layout(grid_gap="6px", margin="6px 0 0"),
            ),
            self.code,
            HTML("<span class='mnb-hint'>Changes apply from the next request on.</span>"),
            self.cost,
            self.status,
        ]
        super().__init__(rows, layout=kwargs.pop("layout", Layout(width="100%")), **kwargs)
        self._sync(session.settings)
        for widget in (*self.controls.values(), *self.unset.values()):
            widget.observe(self._on_change, names="value")
        self.apply_system_prompt.on_click(self._on_apply_system_prompt)
        self.reset_button.on_click(self._on_reset)
        self._unsubscribe: Callable[[], None] | None = session.subscribe(self._on_event)
        self._show_cost()
        self._start_loading_models()

    # -- building -------------------------------------------------------------------

    def _control(self, name: str, setting: Setting) -> Widget | None:
        tip = _description(setting)
        # Every control takes what the label and side columns leave, but never less than
        # 220 px: in a narrow notebook the side column wraps under it (in every slider row
        # alike, so the tracks keep one length) rather than the track shrinking to nothing.
        grow = Layout(flex="1 1 220px", min_width="220px", width="auto")
        if name == "model":
            return Combobox(
                options=[],
                ensure_option=False,
                continuous_update=False,
                placeholder="a model id: pick one or type it, then Enter",
                tooltip=tip,
                layout=grow,
            )
        default = _default(setting)
        if _is_slider(setting):
            step = 10.0**-_SLIDER_DECIMALS
            minimum = float(setting.minimum or 0.0) + (step if setting.exclusive_minimum else 0)
            self._resting[name] = default if default is not None else _RESTING.get(name, minimum)
            return FloatSlider(
                min=minimum,
                max=float(setting.maximum or 0.0),
                step=step,
                value=self._resting[name],
                readout_format=".2f",
                continuous_update=False,
                tooltip=tip,
                layout=grow,
            )
        if setting.kind is int and _choices(setting) is None:
            lowest = int(setting.minimum) if setting.minimum is not None else 0
            self._resting[name] = default if default is not None else _RESTING.get(name, lowest)
            return IntText(value=self._resting[name], tooltip=tip, layout=grow)
        if setting.kind is bool:
            return Checkbox(value=bool(default), indent=False, tooltip=tip, layout=grow)
        if _choices(setting) is not None:
            options = (
                [(f"model's default{'' if default is None else f' ({default})'}", _UNSET_CHOICE)]
                if setting.nullable
                else []
            )
            options += [(str(c), c) for c in _choices(setting) or ()]
            return Dropdown(options=options, tooltip=tip, layout=grow)
        if setting.kind is str and name != "system_prompt":
            return Text(
                placeholder="not sent (the model's default)",
                continuous_update=False,
                tooltip=tip,
                layout=grow,
            )
        if setting.kind is str:
            return Textarea(
                placeholder="none (applied when you leave the box)",
                continuous_update=False,
                rows=2,
                tooltip=tip,
                layout=grow,
            )
        return None

    def _row(self, name: str, setting: Setting, control: Widget) -> HBox:
        unit = str(getattr(setting, "unit", "") or "")
        label = Label(
            name + (f" ({unit})" if unit else ""),
            tooltip=_description(setting),
            layout=Layout(width=_LABEL_WIDTH, flex="0 0 auto"),
        )
        side: Widget
        if name == "system_prompt":
            side = self.apply_system_prompt
        elif setting.nullable and not isinstance(control, Dropdown) and name != "model":
            if _default(setting) is not None:
                word = f"default ({_default(setting):g})"
            else:
                word = _UNSET_LABELS.get(name, "model default")
            box = Checkbox(
                description=word,
                indent=False,
                tooltip="checked: not sent, "
                + (
                    "Mistral's default applies"
                    if _default(setting) is not None
                    else "the model decides"
                ),
                layout=Layout(width="auto"),
            )
            self.unset[name] = box
            side = box
        else:
            side = HTML("")
        side_box = HBox([side], layout=Layout(width=_SIDE_WIDTH, flex="0 0 auto"))
        return HBox(
            [label, control, side_box],
            layout=Layout(
                width="100%", align_items="center", grid_gap="2px 6px", flex_flow="row wrap"
            ),
        )

    # -- the model list -------------------------------------------------------------

    def _start_loading_models(self) -> None:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            self._take_models(self._fetch_models())
            return
        self.pending = schedule(self._load_models(), self.status, name="mistral_nb models")

    def _fetch_models(self) -> list[dict[str, Any]] | BaseException:
        try:
            return list(self.session.models())  # type: ignore[attr-defined]
        except Exception as exc:  # noqa: BLE001 - shown as a hint; the box stays free text
            return exc

    async def _load_models(self) -> None:
        self._take_models(await asyncio.to_thread(self._fetch_models))

    def _take_models(self, models: list[dict[str, Any]] | BaseException) -> None:
        if isinstance(models, BaseException):
            self.models = []
            self._model_hint = (
                f"could not list the models ({type(models).__name__}: {models}); type a model id"
            )
        else:
            self.models = models
            self._model_hint = ""
            self._syncing = True
            try:
                self.model.options = model_names(models)
            finally:
                self._syncing = False
        self._show_model_info()

    def _show_model_info(self) -> None:
        hint = getattr(self, "_model_hint", "")
        text = describe_model(self.models, self.model.value) or hint
        self.model_info.value = f"<span class='mnb-hint'>{text}</span>" if text else ""
        self._show_model_temperature()

    def _show_model_temperature(self) -> None:
        """Mark the model's own default temperature (its card's), and rest the slider on it
        while temperature is not sent: what the slider shows is what the model uses."""
        box, slider = self.unset.get("temperature"), self.controls.get("temperature")
        if box is None or not isinstance(slider, FloatSlider):
            return
        card = find_card(self.models, str(self.model.value)) if self.models else None
        default = card.get("default_model_temperature") if card else None
        if not isinstance(default, int | float) or isinstance(default, bool):
            box.description = "model default"
            return
        box.description = f"model default ({default:g})"
        if box.value and slider.min <= default <= slider.max:
            self._resting["temperature"] = float(default)
            syncing, self._syncing = self._syncing, True
            try:
                slider.value = float(default)
            finally:
                self._syncing = syncing

    # -- widgets -> session -----------------------------------------------------

    def _fields_for(self, widget: Widget) -> dict[str, Any]:
        """The settings a change of ``widget`` asks for."""
        for name, box in self.unset.items():
            if widget is box:
                return {name: None if box.value else self._value_of(name)}
        name = next(n for n, c in self.controls.items() if c is widget)
        box = self.unset.get(name)
        if box is not None and box.value and name != "system_prompt":
            # Moving a control of an unset setting sets it: that is what the move means.
            self._syncing = True
            try:
                box.value = False
            finally:
                self._syncing = False
        return {name: self._value_of(name)}

    def _value_of(self, name: str) -> Any:
        value = self.controls[name].value
        if name == "model":
            return str(value).strip()
        if isinstance(self.controls[name], Dropdown) and value == _UNSET_CHOICE:
            return None
        if isinstance(self.controls[name], Textarea | Text):
            return str(value).strip() or None
        if isinstance(self.controls[name], FloatSlider):
            # A step from 0.3 lands on 0.30999999999999994: send what the readout shows.
            return round(float(value), _SLIDER_DECIMALS)
        return value

    @guarded
    def _on_change(self, change: dict[str, Any]) -> None:
        if self._syncing:
            return
        self._apply(self._fields_for(change["owner"]))

    @guarded
    def _on_apply_system_prompt(self, _button: Button) -> None:
        self._apply({"system_prompt": self._value_of("system_prompt")})

    @guarded
    def _on_reset(self, _button: Button) -> None:
        fields = {n: s.default for n, s in SETTINGS.items() if n != "model"}
        self._apply(fields, said="every setting but the model is back to Mistral's default")

    def _apply(self, fields: dict[str, Any], said: str | None = None) -> None:
        try:
            now = self.session.update_settings(**fields)
        except Exception:
            self._sync(self.session.settings)  # put every control back to what is in force
            raise
        self._sync(now)
        if said is None:
            said = ", ".join(f"{name} = {_shown(name, now.get(name))}" for name in fields)
            said += " from the next request"
        self.status.ok(said)

    # -- session -> widgets -------------------------------------------------------

    @guarded
    def _on_event(self, event: SessionEvent) -> None:
        if event.kind == "settings" and event.settings is not None:
            self._sync(event.settings)
        elif event.kind == "turn_ended":
            self._show_cost()

    def _show_cost(self) -> None:
        """The session's running cost, from the log (Mistral's list prices)."""
        turns = len(self.session.log)
        if not turns:
            self.cost.value = "<span class='mnb-hint'>session cost: nothing sent yet</span>"
            return
        total = self.session.log.cost().loc["total", "cost_usd"]
        shown = "unknown (a model without a price)" if math.isnan(total) else f"${total:,.6f}"
        self.cost.value = (
            f"<span class='mnb-hint'>session cost: {shown} over {turns} turn(s), "
            "at Mistral's list prices</span>"
        )

    def _sync(self, settings: dict[str, Any]) -> None:
        """Show ``settings`` without reacting to our own changes."""
        self._syncing = True
        try:
            for name, control in self.controls.items():
                value = settings.get(name)
                if name in self.unset:
                    self.unset[name].value = value is None
                if isinstance(control, Dropdown):
                    control.value = _UNSET_CHOICE if value is None else value
                elif isinstance(control, Textarea | Combobox | Text):
                    control.value = "" if value is None else str(value)
                elif isinstance(control, Checkbox):
                    control.value = bool(value)
                elif value is not None:
                    control.value = value
                    self._resting[name] = value
                else:  # unset: rest where it was, never on a rejected value
                    control.value = self._resting.get(name, control.value)
        finally:
            self._syncing = False
        self.copy_button.text = settings_code(settings)
        self.code.value = (
            "<details><summary class='mnb-hint'>as code</summary><pre class='mnb-hint' "
            f"style='margin:2px 0'>{html.escape(self.copy_button.text)}</pre></details>"
        )
        self._show_model_info()

    # -- lifecycle ----------------------------------------------------------------

    def close(self) -> None:
        """Stop following the session, and close the widgets."""
        release(self)
        super().close()


def _shown(name: str, value: Any) -> str:
    if value is None:
        return {"max_tokens": "no limit", "random_seed": "random", "system_prompt": "none"}.get(
            name, "the model's default"
        )
    if isinstance(value, str) and len(value) > 40:
        return repr(value[:37] + "...")
    if isinstance(value, str):
        return repr(value)
    return f"{value:g}" if isinstance(value, float) else str(value)
