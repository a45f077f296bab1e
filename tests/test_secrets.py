"""The API key never shows: not in a repr, an error, a log row, an export, or notebook output."""

from __future__ import annotations

import json
import os
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from PIL import Image

import mistral_nb as mnb
from mistral_nb.local import Fault
from mistral_nb.local import ToolCall

SENTINEL = "sk-SENTINEL-7f3a9c1e5b2d"


def assert_no_key(text: str, where: str) -> None:
    assert SENTINEL not in text, f"the API key leaked into {where}"
    assert SENTINEL[6:] not in text, f"part of the API key leaked into {where}"


async def test_the_key_never_appears_in_what_a_session_shows_or_writes(tmp_path):
    faults = [Fault.status(401, on=3), Fault.status(422, on=4)]  # 1-2: the tool round-trip
    with mnb.LocalMistral(api_key=SENTINEL, faults=faults) as local:
        async with mnb.Session(api_key=SENTINEL, base_url=local.base_url) as session:

            @session.tool
            def echo(text: str) -> str:
                """Echo the text."""
                return text

            local.push(ToolCall("echo", {"text": "hi"}), "hi")
            turns = [
                await session.send("first", images=[Image.new("RGB", (8, 8))]),
                await session.send("second"),
                await session.send("third"),
            ]
            with pytest.raises(mnb.SettingsError) as settings_error:
                session.update_settings(temperature=99)
            with pytest.raises(mnb.APIError) as api_error:
                turns[1].raise_for_status()

            shown = [
                repr(session),
                str(session.settings),
                repr(session.log),
                session.log._repr_html_(),
                str(settings_error.value),
                str(api_error.value),
                repr(api_error.value.body),
                repr(local),
                repr(local.exchanges),
                json.dumps(session.messages),
                session.tools._repr_html_(),
            ]
            for turn in turns:
                shown += [repr(turn), turn._repr_html_(), json.dumps(turn.to_dict(), default=str)]
            for frame in (
                session.log.turns(),
                session.log.tokens(),
                session.log.calls(),
                session.log.requests(),
                session.log.images(),
            ):
                shown.append(frame.to_string())
            written = [session.log.save(tmp_path / "log.jsonl")]
            written += session.log.to_csv(tmp_path / "csv").values()
            written += session.log.to_parquet(tmp_path / "parquet").values()

    for n, text in enumerate(shown):
        assert_no_key(text, f"shown item {n}")
    for path in written:
        assert_no_key(Path(path).read_bytes().decode("latin-1"), str(path))
    assert [t.status for t in turns] == ["ok", "error", "error"]
    assert "401" in turns[1].error and "422" in turns[2].error


def test_repr_shows_at_most_the_last_four_characters():
    session = mnb.Session(api_key=SENTINEL, base_url="http://127.0.0.1:9/v1")
    assert f"sk-...{SENTINEL[-4:]}" in repr(session)
    assert SENTINEL[:-4].removeprefix("sk-") not in repr(session)
    session.close()


def test_notebook_outputs_never_show_the_key(tmp_path):
    with mnb.LocalMistral(api_key=SENTINEL, faults=[Fault.status(401, on=2)]) as local:
        notebook = nbformat.v4.new_notebook()
        notebook.cells = [
            nbformat.v4.new_code_cell(source)
            for source in (
                "import mistral_nb as mnb\nsession = mnb.Session()\nsession",
                'turn = await session.send("hello")\nturn',
                'bad = await session.send("again")\nprint(bad.error)\nbad',
                "session.log.turns()",
                "session.settings",
                "session.update_settings(temperature=7)",
            )
        ]
        env = {**os.environ, "MISTRAL_API_KEY": SENTINEL, "MISTRAL_BASE_URL": local.base_url}
        client = NotebookClient(notebook, timeout=60, kernel_name="python3", allow_errors=True)
        client.execute(env=env)
    text = nbformat.writes(notebook)
    assert "SettingsError" in text  # the last cell did fail, and its traceback is in the outputs
    assert "API key (401)" in text  # the kernel used the key, against this endpoint
    assert_no_key(text, "the notebook's outputs")
