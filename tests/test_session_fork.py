"""A fork carries the conversation and changed settings; the original is untouched."""

from __future__ import annotations

import pytest

import mistral_nb as mnb


def test_fork_copies_the_conversation_and_changes_only_its_settings(session, local):
    session.ask("My name is Ada.")
    before = session.messages
    with session.fork(temperature=0.9, max_tokens=20) as fork:
        assert fork.messages == before
        assert fork.settings["temperature"] == 0.9 and session.settings["temperature"] is None
        turn = fork.ask("What is my name?")
        assert turn.status == "ok"
        body = local.requests[-1]
        assert body["temperature"] == 0.9 and body["max_tokens"] == 20
        assert body["messages"][:2] == before
        assert len(fork.log) == 1 and len(session.log) == 1
    assert session.messages == before
    assert session.ask("still here?").status == "ok"


def test_fork_refuses_bad_settings(session):
    with pytest.raises(mnb.SettingsError, match="top_p"):
        session.fork(top_p=0)
