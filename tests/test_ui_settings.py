"""SettingsPanel against a real Session and LocalMistral: widget changes reach the wire."""

from __future__ import annotations

import pytest

import mistral_nb as mnb
from mistral_nb.ui import SettingsPanel


@pytest.fixture
def panel(session):
    panel = SettingsPanel(session)
    yield panel
    panel.close()


async def test_widgets_start_from_the_session_settings(local):
    async with mnb.Session(
        api_key="k",
        base_url=local.base_url,
        settings={"model": "mistral-large-latest", "temperature": 0.4, "random_seed": 7},
    ) as session:
        panel = SettingsPanel(session)
        assert panel.model.value == "mistral-large-latest"
        assert panel.sliders["temperature"].value == 0.4
        assert not panel.defaults["temperature"].value
        assert panel.defaults["top_p"].value  # unset: the model's default
        assert (panel.random_seed.value, panel.fixed_seed.value) == (7, True)
        assert panel.no_limit.value and not panel.safe_prompt.value
        assert panel.system_prompt.value == ""
        panel.close()


async def test_ranges_come_from_SETTINGS(panel):
    for name, slider in panel.sliders.items():
        setting = mnb.SETTINGS[name]
        assert slider.max == setting.maximum
        assert slider.min == setting.minimum or (setting.exclusive_minimum and slider.min > 0)
        assert not slider.continuous_update
        assert slider.style.description_width == "initial"


async def test_a_slider_change_reaches_the_next_request(panel, session, local):
    await session.send("before")
    assert "temperature" not in local.requests[-1]

    panel.sliders["temperature"].value = 0.2

    assert session.settings["temperature"] == 0.2
    assert panel.status.text == "temperature = 0.2 from the next request"
    assert not panel.defaults["temperature"].value
    await session.send("after")
    assert local.requests[-1]["temperature"] == 0.2


async def test_every_widget_reaches_the_request_under_mistrals_names(panel, session, local):
    panel.model.value = "mistral-large-latest"
    panel.sliders["top_p"].value = 0.9
    panel.sliders["frequency_penalty"].value = 0.5
    panel.sliders["presence_penalty"].value = -0.5
    panel.max_tokens.value = 40
    panel.random_seed.value = 123
    panel.safe_prompt.value = True
    panel.system_prompt.value = "Be brief."
    assert panel.status.kind == "ok"

    await session.send("Hello")

    body = local.requests[-1]
    assert body["model"] == "mistral-large-latest"
    assert (body["top_p"], body["frequency_penalty"], body["presence_penalty"]) == (0.9, 0.5, -0.5)
    assert (body["max_tokens"], body["random_seed"], body["safe_prompt"]) == (40, 123, True)
    assert body["messages"][0] == {"role": "system", "content": "Be brief."}
    assert not panel.no_limit.value and panel.fixed_seed.value


async def test_checkboxes_unset_what_they_govern(panel, session, local):
    panel.sliders["temperature"].value = 0.9
    panel.max_tokens.value = 30
    panel.random_seed.value = 5
    panel.system_prompt.value = "Be brief."

    panel.defaults["temperature"].value = True
    panel.no_limit.value = True
    panel.fixed_seed.value = False
    panel.system_prompt.value = "   "
    await session.send("Hello")

    body = local.requests[-1]
    for name in ("temperature", "max_tokens", "random_seed"):
        assert body.get(name) is None, name
    assert body["messages"][0]["role"] == "user"
    assert session.settings["max_tokens"] is None
    assert panel.status.text == "system_prompt = none from the next request"


async def test_an_out_of_range_value_shows_the_settings_error_and_changes_nothing(
    panel, session, local
):
    panel.max_tokens.value = 100
    before = session.settings

    panel.max_tokens.value = -5

    assert panel.status.kind == "error"
    assert "max_tokens=-5 is out of range" in panel.status.text
    assert "SettingsError" not in panel.status.text  # our errors speak for themselves
    assert session.settings == before
    assert panel.max_tokens.value == 100  # the widget shows what is in force
    await session.send("Hello")
    assert local.requests[-1]["max_tokens"] == 100

    panel.random_seed.value = -1
    assert "random_seed=-1" in panel.status.text and session.settings["random_seed"] is None
    assert not panel.fixed_seed.value


async def test_an_empty_model_is_refused_and_the_box_shows_the_model_in_force(panel, session):
    panel.model.value = "  "
    assert panel.status.kind == "error" and "model" in panel.status.text
    assert panel.model.value == session.settings["model"] == "mistral-small-latest"


async def test_the_system_prompt_is_applied_on_commit_or_by_the_button(panel, session, local):
    # continuous_update=False: the browser sends the value on blur, not per keystroke.
    assert not panel.system_prompt.continuous_update
    panel.system_prompt.value = "Answer in French."
    assert session.settings["system_prompt"] == "Answer in French."

    session.update_settings(system_prompt=None)  # changed elsewhere: the box follows
    assert panel.system_prompt.value == ""

    panel.system_prompt.value = "Answer in German."
    panel.status.clear()
    panel.apply_system_prompt.click()
    assert panel.status.text == "system_prompt = 'Answer in German.' from the next request"
    await session.send("Hello")
    assert local.requests[-1]["messages"][0]["content"] == "Answer in German."


async def test_changes_made_in_code_move_the_widgets(panel, session):
    session.update_settings(temperature=1.1, max_tokens=12, seed=9)
    assert panel.sliders["temperature"].value == 1.1
    assert (panel.max_tokens.value, panel.no_limit.value) == (12, False)
    assert (panel.random_seed.value, panel.fixed_seed.value) == (9, True)
    assert panel.status.text == ""  # nothing was done through the panel


async def test_close_unsubscribes(session):
    panel = SettingsPanel(session)
    panel.close()
    session.update_settings(temperature=1.0)
    assert panel.sliders["temperature"].value != 1.0
