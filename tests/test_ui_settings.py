"""SettingsPanel against a real Session and LocalMistral: controls generated from the one
settings table, changes reaching the wire, rejected values put back, reset, copy as code."""

from __future__ import annotations

import pytest
from ipywidgets import Checkbox, Combobox, Dropdown, FloatSlider, HBox, IntText, Textarea

import mistral_nb as mnb
from mistral_nb._settings import SETTINGS
from mistral_nb.ui import SettingsPanel
from mistral_nb.ui._settings_panel import settings_code


@pytest.fixture
async def panel(session):
    panel = SettingsPanel(session)
    if panel.pending is not None:
        await panel.pending  # the model list
    yield panel
    panel.close()


def _rows(panel: SettingsPanel) -> list[HBox]:
    return [c for c in panel.children if isinstance(c, HBox) and len(c.children) == 3]


async def test_every_setting_of_the_table_has_one_control_in_table_order(panel):
    shown = list(panel.controls)
    assert shown == [n for n in SETTINGS if n in shown]
    assert {"model", "temperature", "top_p", "max_tokens", "random_seed", "safe_prompt"} <= set(
        shown
    )
    kinds = {
        "model": Combobox,
        "temperature": FloatSlider,
        "max_tokens": IntText,
        "safe_prompt": Checkbox,
        "system_prompt": Textarea,
    }
    for name, kind in kinds.items():
        assert isinstance(panel.controls[name], kind), name
    for name, setting in SETTINGS.items():
        if getattr(setting, "choices", None) and name in panel.controls:
            assert isinstance(panel.controls[name], Dropdown)
            assert set(setting.choices) <= {v for _, v in panel.controls[name].options}


async def test_labels_share_a_column_and_sliders_one_track_length(panel):
    rows = _rows(panel)
    assert len(rows) == len(panel.controls)
    widths = {row.children[0].layout.width for row in rows}
    assert widths == {"150px"}  # every label in one column
    assert {row.children[2].layout.width for row in rows} == {"150px"}  # and every side box
    sliders = [row.children[1] for row in rows if isinstance(row.children[1], FloatSlider)]
    assert len(sliders) >= 4
    assert len({(s.layout.flex, s.layout.min_width) for s in sliders}) == 1
    for row in rows:  # the tooltip is the table's description
        name = row.children[0].value.split(" (")[0]
        assert SETTINGS[name].description.split(" (")[0] in row.children[0].tooltip


async def test_ranges_and_defaults_come_from_the_table(panel):
    for name, slider in panel.sliders.items():
        setting = SETTINGS[name]
        assert slider.max == setting.maximum
        assert slider.min == setting.minimum or (setting.exclusive_minimum and slider.min > 0)
        assert not slider.continuous_update
    top_p = SETTINGS["top_p"]
    if top_p.default is not None:  # Mistral's own default is marked beside the control
        assert panel.unset["top_p"].description == f"default ({top_p.default:g})"
    assert panel.unset["max_tokens"].description == "no limit"
    assert panel.unset["random_seed"].description == "random"


@pytest.mark.skipif(not hasattr(mnb.Session, "models"), reason="Session.models lands with issue 8")
async def test_the_model_box_lists_the_endpoints_chat_models(panel, session):
    assert "mistral-small-latest" in panel.model.options
    assert "mistral-large-latest" in panel.model.options
    assert not any("embed" in name for name in panel.model.options)  # chat models only
    assert "k tokens of context" in panel.model_info.value
    panel.model.value = "pixtral-12b-latest"
    assert session.settings["model"] == "pixtral-12b-latest"
    assert "sees images" in panel.model_info.value


async def test_the_model_box_is_free_text_when_the_list_cannot_be_had(local):
    async with mnb.Session(api_key="k", base_url=local.base_url) as session:
        local.stop()  # nothing answers now
        panel = SettingsPanel(session)
        if panel.pending is not None:
            await panel.pending
        assert panel.model.options == ()
        assert "type a model id" in panel.model_info.value
        panel.model.value = "my-fine-tune"
        assert session.settings["model"] == "my-fine-tune"
        panel.close()


async def test_a_slider_change_reaches_the_next_request(panel, session, local):
    await session.send("before")
    assert "temperature" not in local.requests[-1]

    panel.sliders["temperature"].value = 0.2

    assert session.settings["temperature"] == 0.2
    assert panel.status.text == "temperature = 0.2 from the next request"
    assert not panel.unset["temperature"].value
    await session.send("after")
    assert local.requests[-1]["temperature"] == 0.2


async def test_every_control_reaches_the_request_under_mistrals_names(panel, session, local):
    c = panel.controls
    c["model"].value = "mistral-large-latest"
    c["top_p"].value = 0.9
    c["frequency_penalty"].value = 0.5
    c["presence_penalty"].value = -0.5
    c["max_tokens"].value = 40
    c["random_seed"].value = 123
    c["safe_prompt"].value = True
    c["system_prompt"].value = "Be brief."
    assert panel.status.kind == "ok"

    await session.send("Hello")

    body = local.requests[-1]
    assert body["model"] == "mistral-large-latest"
    assert (body["top_p"], body["frequency_penalty"], body["presence_penalty"]) == (0.9, 0.5, -0.5)
    assert (body["max_tokens"], body["random_seed"], body["safe_prompt"]) == (40, 123, True)
    assert body["messages"][0] == {"role": "system", "content": "Be brief."}
    assert not panel.unset["max_tokens"].value and not panel.unset["random_seed"].value


async def test_checkboxes_unset_what_they_govern(panel, session, local):
    c = panel.controls
    c["temperature"].value = 0.9
    c["max_tokens"].value = 30
    c["random_seed"].value = 5
    c["system_prompt"].value = "Be brief."

    for name in ("temperature", "max_tokens", "random_seed"):
        panel.unset[name].value = True
    c["system_prompt"].value = "   "
    await session.send("Hello")

    body = local.requests[-1]
    for name in ("temperature", "max_tokens", "random_seed"):
        assert body.get(name) is None, name
    assert body["messages"][0]["role"] == "user"
    assert session.settings["max_tokens"] is None
    assert panel.status.text == "system_prompt = none from the next request"


async def test_a_rejected_value_is_put_back_and_the_error_says_why(panel, session, local):
    panel.controls["max_tokens"].value = 100
    before = session.settings

    panel.controls["max_tokens"].value = -5

    assert panel.status.kind == "error"
    assert "max_tokens=-5" in panel.status.text and "Mistral accepts" in panel.status.text
    assert "SettingsError" not in panel.status.text  # our errors speak for themselves
    assert session.settings == before
    assert panel.controls["max_tokens"].value == 100  # the control shows what is in force
    await session.send("Hello")
    assert local.requests[-1]["max_tokens"] == 100

    # Unset ("random"), then a bad seed typed: the box goes back, not to -1.
    panel.controls["random_seed"].value = -1
    assert "random_seed=-1" in panel.status.text and session.settings["random_seed"] is None
    assert panel.controls["random_seed"].value != -1 and panel.unset["random_seed"].value


async def test_an_empty_model_is_refused_and_the_box_shows_the_model_in_force(panel, session):
    panel.model.value = "  "
    assert panel.status.kind == "error" and "model" in panel.status.text
    assert panel.model.value == session.settings["model"] == "mistral-small-latest"


async def test_the_system_prompt_is_applied_on_commit_or_by_the_button(panel, session, local):
    box = panel.controls["system_prompt"]
    assert not box.continuous_update  # the browser sends it on blur, not per keystroke
    box.value = "Answer in French."
    assert session.settings["system_prompt"] == "Answer in French."

    session.update_settings(system_prompt=None)  # changed elsewhere: the box follows
    assert box.value == ""

    box.value = "Answer in German."
    panel.status.clear()
    panel.apply_system_prompt.click()
    assert panel.status.text == "system_prompt = 'Answer in German.' from the next request"
    await session.send("Hello")
    assert local.requests[-1]["messages"][0]["content"] == "Answer in German."


async def test_reset_puts_every_setting_but_the_model_back_to_the_default(panel, session, local):
    session.update_settings(model="mistral-large-latest", temperature=1.1, max_tokens=9, seed=3)
    panel.reset_button.click()
    now = session.settings
    assert now["model"] == "mistral-large-latest"
    for name, setting in SETTINGS.items():
        if name != "model":
            assert now[name] == setting.default, name
    assert panel.unset["temperature"].value and panel.unset["max_tokens"].value
    await session.send("Hello")
    assert "max_tokens" not in local.requests[-1]


async def test_copy_as_code_reproduces_the_panel(panel, session, local):
    session.update_settings(temperature=0.25, max_tokens=64)
    code = panel.copy_button.text
    assert code == settings_code(session.settings)
    assert "    temperature=0.25,\n" in code and "    max_tokens=64,\n" in code

    other = mnb.Session(api_key="k", base_url=local.base_url)
    try:
        exec(code, {"session": other})  # noqa: S102 - the copied code gives the same settings
        assert other.settings == session.settings
    finally:
        await other.aclose()
    assert "temperature=0.25" in panel.code.value


async def test_changes_made_in_code_move_the_controls(panel, session):
    panel.status.clear()
    session.update_settings(temperature=1.1, max_tokens=12, seed=9)
    assert panel.sliders["temperature"].value == 1.1
    assert (panel.controls["max_tokens"].value, panel.unset["max_tokens"].value) == (12, False)
    assert (panel.controls["random_seed"].value, panel.unset["random_seed"].value) == (9, False)
    assert panel.status.text == ""  # nothing was done through the panel


async def test_close_unsubscribes(session):
    panel = SettingsPanel(session)
    if panel.pending is not None:
        await panel.pending
    panel.close()
    session.update_settings(temperature=1.0)
    assert panel.sliders["temperature"].value != 1.0


async def test_the_panel_shows_the_sessions_running_cost(local):
    from conftest import TEST_KEY

    async with mnb.Session(api_key=TEST_KEY, base_url=local.base_url) as session:
        panel = SettingsPanel(session)
        assert "nothing sent yet" in panel.cost.value
        await session.send("hello")
        expected = session.log.cost().loc["total", "cost_usd"]
        assert f"${expected:,.6f}" in panel.cost.value and "1 turn" in panel.cost.value
        panel.close()


async def test_an_unset_temperature_shows_the_models_own_default(panel, session, local):
    # LocalMistral's cards carry Mistral's default_model_temperature: 0.3 for
    # mistral-small, 0.7 for magistral-medium.  Unset, the slider shows what the model uses.
    slider, box = panel.sliders["temperature"], panel.unset["temperature"]
    assert box.value and box.description == "model default (0.3)"
    assert slider.value == 0.3
    panel.model.value = "magistral-medium-latest"
    assert box.description == "model default (0.7)" and slider.value == 0.7
    assert session.settings["temperature"] is None  # shown, not sent
    await session.send("hello")
    assert "temperature" not in local.requests[-1]

    slider.value = 0.5  # moving it sets it; the model's default no longer moves it
    panel.model.value = "mistral-small-latest"
    assert session.settings["temperature"] == 0.5 and slider.value == 0.5
    assert box.description == "model default (0.3)"


async def test_an_unset_count_rests_inside_its_range(panel):
    assert panel.unset["n"].value
    assert panel.controls["n"].value == SETTINGS["n"].minimum == 1


async def test_a_slider_sends_what_its_readout_shows(panel, session, local):
    panel.sliders["temperature"].value = 0.3 + 0.01  # a step lands on 0.30999999999999994
    assert session.settings["temperature"] == 0.31
    await session.send("hello")
    assert local.requests[-1]["temperature"] == 0.31
