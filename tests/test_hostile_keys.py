"""Keys read from files, environment variables or .env files are hostile input too.

A trailing newline or CRLF is stripped; a key with control or non-ASCII characters is
refused at Session(...) with an error that shows only the masked key.  Whatever the
key, it never appears in an error, a repr, the log, the journal or an export.
"""

from __future__ import annotations

import pytest

import mistral_nb as mnb

CLEAN = "sk-SENTINEL-5e1d7c9a3b"


@pytest.mark.parametrize("suffix", ["\n", "\r\n", "  ", "\t\n"])
def test_surrounding_whitespace_is_stripped_and_the_key_works(suffix, tmp_path, monkeypatch):
    with mnb.LocalMistral(api_key=CLEAN) as local:
        journal = tmp_path / "log.jsonl"
        with mnb.Session(api_key=CLEAN + suffix, base_url=local.base_url, log=journal) as session:
            turn = session.ask("hello")
            assert turn.status == "ok", turn.error
        monkeypatch.setenv("MISTRAL_API_KEY", " " + CLEAN + suffix)
        with mnb.Session(base_url=local.base_url) as session:
            assert session.ask("hello").status == "ok"
        assert CLEAN not in journal.read_text()
        session.log.turns().to_csv(tmp_path / "turns.csv")
        assert CLEAN not in (tmp_path / "turns.csv").read_text()


@pytest.mark.parametrize(
    "key",
    [CLEAN[:8] + "\n" + CLEAN[8:], CLEAN + "\x00", CLEAN[:5] + "é" + CLEAN[5:], CLEAN[:5] + "\u2028" + CLEAN[5:]],
    ids=["inner-newline", "nul", "non-ascii", "line-separator"],
)
def test_a_key_no_header_can_carry_is_refused_with_the_key_masked(key, monkeypatch):
    with pytest.raises(mnb.SettingsError) as info:
        mnb.Session(api_key=key, base_url="http://127.0.0.1:9/v1")
    message = str(info.value)
    assert "API key" in message and "copy it again" in message
    assert CLEAN[6:] not in message and CLEAN[:12] not in message
    assert CLEAN[6:] not in repr(info.value.value)
    if "\x00" in key:
        return  # no environment variable can hold a NUL
    monkeypatch.setenv("MISTRAL_API_KEY", key)
    with pytest.raises(mnb.SettingsError) as info:
        mnb.Session(base_url="http://127.0.0.1:9/v1")
    assert CLEAN[6:] not in str(info.value)


def test_a_rejected_key_is_never_quoted_in_the_turn(tmp_path):
    with mnb.LocalMistral(api_key="the-right-key-123") as local:
        with mnb.Session(api_key=CLEAN, base_url=local.base_url) as session:
            turn = session.ask("hello")
    assert turn.status == "error" and "401" in turn.error
    for text in (turn.error, repr(turn), repr(session), session.log.turns().to_csv()):
        assert CLEAN not in text and CLEAN[6:] not in text
