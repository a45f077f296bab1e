"""The turn data model: reasoning and answer tokens, the log's columns, old journals, text.

Turns are built through the calls the session makes (``Turn.add_token``,
``TurnLog.append``); no pipeline is needed to check what the log makes of them.
"""

from __future__ import annotations

import json
import shutil
import threading
import warnings
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest
from journal_turns import as_json, conversation

import mistral_nb as mnb
from mistral_nb._turn import CallRecord, Completion

FIXTURES = Path(__file__).parent / "fixtures" / "journal"


def reasoning_turn(number: int = 1) -> mnb.Turn:
    """Thinking, then the answer, over two completions (a tool call in between)."""
    turn = mnb.Turn(turn=number, started_at=datetime.now(UTC), user_text="why?")
    turn.completions.append(Completion(0, 0.0, ttfb_s=0.2, prompt_tokens=50, cached_tokens=32))
    turn.add_token("Let me", 0.25, 0, "thinking")
    turn.add_token(" think.", 0.26, 0, "thinking")
    turn.add_token("Because", 0.40, 0)
    turn.completions.append(Completion(1, 0.5, ttfb_s=0.1, prompt_tokens=60, cached_tokens=48))
    turn.add_token("Still", 0.55, 1, "thinking")
    turn.add_token(" so.", 0.60, 1)
    turn.completions[0].completion_tokens = 3
    turn.completions[1].completion_tokens = 2
    turn.status = "ok"
    return turn


def test_answer_and_reasoning_are_kept_apart():
    turn = reasoning_turn()
    assert turn.text == "Because so."
    assert turn.thinking == "Let me think.Still"
    assert turn.joined("text", completion=1) == " so."
    assert turn.joined("thinking", completion=0) == "Let me think."
    assert turn.ttft_s == 0.25 and turn.ttfat_s == 0.40
    assert turn.usage["cached_tokens"] == 80
    assert "Because so." in turn._repr_html_() and "reasoning" in turn._repr_html_()


def test_tokens_have_kind_choice_and_an_index_within_each_completion():
    log = mnb.TurnLog()
    log.append(reasoning_turn(1))
    log.append(conversation(1, first=2)[0])
    tokens = log.tokens()
    assert list(tokens.columns) == ["turn", "completion", "choice", "index", "kind", "text", "t_s"]
    first = tokens[tokens["turn"] == 1]
    assert first["kind"].tolist() == ["thinking", "thinking", "text", "thinking", "text"]
    assert first["completion"].tolist() == [0, 0, 0, 1, 1]
    assert first["index"].tolist() == [0, 1, 2, 0, 1]
    assert (tokens["choice"] == 0).all()
    assert list(tokens["kind"].cat.categories) == ["text", "thinking"]
    assert tokens["text"].str.len().sum() == sum(len(t.text) + len(t.thinking) for t in log)
    # Plotting reasoning time against answer time is one groupby away.
    spans = first.groupby("kind", observed=True)["t_s"].agg(["min", "max"])
    assert spans.loc["thinking", "min"] < spans.loc["text", "min"]
    assert tokens.equals(pd.concat([t.tokens for t in log], ignore_index=True))


def test_interleaved_choices_are_counted_each_on_its_own():
    turn = mnb.Turn(turn=1, started_at=datetime.now(UTC), user_text="two candidates")
    for index, choice in enumerate([0, 1, 0, 1, 1]):
        turn.add_token(f"c{choice}", index * 0.01, 0, choice=choice)
    tokens = turn.tokens
    assert tokens["choice"].tolist() == [0, 1, 0, 1, 1]
    assert tokens["index"].tolist() == [0, 0, 1, 1, 2]
    assert json.loads(json.dumps(turn.to_dict()))["tokens"]["choice"] == [0, 1, 0, 1, 1]


def test_turns_counts_reasoning_and_cached_tokens():
    log = mnb.TurnLog()
    log.append(reasoning_turn(1))
    log.append(conversation(1, first=2)[0])
    rows = log.turns().set_index("turn")
    assert rows.loc[1, "response_text"] == "Because so."
    assert rows.loc[1, "thinking_chars"] == len("Let me think.Still")
    assert rows.loc[1, "thinking_chunks"] == 3 and rows.loc[1, "n_chunks"] == 5
    assert rows.loc[1, "ttft_s"] == 0.25 and rows.loc[1, "ttfat_s"] == 0.40
    assert rows.loc[1, "cached_tokens"] == 80
    assert rows.loc[2, "thinking_chars"] == 0 and pd.isna(rows.loc[2, "cached_tokens"])
    assert str(rows["cached_tokens"].dtype) == "Int64"
    empty = mnb.TurnLog().turns()
    for column in ("thinking_chars", "thinking_chunks", "ttft_s", "ttfat_s", "cached_tokens"):
        assert column in empty.columns


def test_a_turn_with_reasoning_only_has_no_answer_time():
    turn = mnb.Turn(turn=1, started_at=datetime.now(UTC), user_text="x")
    turn.add_token("hmm", 0.1, 0, "thinking")
    assert turn.text == "" and turn.ttfat_s is None and turn.ttft_s == 0.1
    with pytest.raises(ValueError, match="'text' or 'thinking', not 'answer'"):
        turn.add_token("x", 0.2, 0, "answer")  # type: ignore[arg-type]


def test_tokens_appended_without_add_token_count_as_answer_text():
    turn = mnb.Turn(turn=1, started_at=datetime.now(UTC), user_text="x")
    turn.add_token("think", 0.1, 0, "thinking")
    turn.token_completion.append(0)
    turn.token_t_s.append(0.2)
    turn.token_text.append("said")
    turn.add_token(" more", 0.3, 0)
    assert turn.text == "said more" and turn.thinking == "think"
    assert turn.tokens["kind"].tolist() == ["thinking", "text", "text"]


def test_the_journal_keeps_kinds_and_new_fields(tmp_path):
    path = tmp_path / "journal.jsonl"
    written = [reasoning_turn(1), *conversation(2, first=2)]
    with mnb.TurnLog(path) as log:
        for turn in written:
            log.append(turn)
    line = json.loads(path.read_text().splitlines()[0])
    assert line["tokens"]["kind"] == [1, 1, 0, 1, 0]
    assert line["completions"][1]["cached_tokens"] == 48
    # A turn without reasoning writes no kind column: its line is as before.
    assert "kind" not in json.loads(path.read_text().splitlines()[1])["tokens"]
    loaded = mnb.TurnLog.load(path)
    assert [as_json(t) for t in loaded] == [as_json(t) for t in written]
    assert loaded[0].thinking == "Let me think.Still"
    assert loaded.tokens().equals(log.tokens())
    assert loaded.turns().equals(log.turns())


def test_a_journal_written_before_reasoning_still_loads(tmp_path):
    # tests/fixtures/journal/written_by_b132b86.jsonl: four turns (a tool call, an image)
    # written by mistral_nb at commit b132b86, before token kinds and cached tokens.
    path = tmp_path / "old.jsonl"
    shutil.copy(FIXTURES / "written_by_b132b86.jsonl", path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        log = mnb.TurnLog.load(path)
    assert [t.turn for t in log] == [1, 2, 3, 4]
    assert log[1].call_records[0].result == 5 and len(log[2].images) == 1
    assert all(t.thinking == "" and t.text for t in log)
    assert (log.tokens()["kind"] == "text").all()
    turns = log.turns()
    assert turns["thinking_chunks"].tolist() == [0, 0, 0, 0]
    assert turns["cached_tokens"].isna().all()
    with mnb.TurnLog(path) as reopened:  # and a new session appends to it
        reopened.append(reasoning_turn(reopened.next_turn_number()))
    assert [t.turn for t in mnb.TurnLog.load(path)] == [1, 2, 3, 4, 5]


# -- text that is not valid Unicode (issue 10, point 5: the log side) -----------------------

SURROGATE_NAME = "caf\udce9.txt"  # os.listdir on a Latin-1 file name


def surrogate_turn() -> mnb.Turn:
    turn = mnb.Turn(turn=1, started_at=datetime.now(UTC), user_text=f"open {SURROGATE_NAME}")
    turn.settings = {"model": "mistral-small-latest", "system_prompt": "be \ud800 brief"}
    turn.completions.append(Completion(0, 0.0, prompt_tokens=3, completion_tokens=3))
    turn.add_token("It is ", 0.1, 0)
    turn.add_token("\ud83d", 0.2, 0)  # an emoji's surrogate pair split across two chunks
    turn.add_token("\ude00", 0.3, 0)
    turn.token_completion.append(0)  # and one the recorder appended raw
    turn.token_t_s.append(0.4)
    turn.token_text.append(" \udcff")
    turn.call_records.append(
        CallRecord(
            "c\udc80",
            "read_file",
            {"path": SURROGATE_NAME, SURROGATE_NAME: [SURROGATE_NAME]},
            {"error": f"no such file: {SURROGATE_NAME}"},
            "error",
            f"FileNotFoundError: {SURROGATE_NAME}",
            turn.started_at,
            0.01,
        )
    )
    turn.requests.append({"messages": [{"role": "user", "content": turn.user_text}]})
    turn.error = f"failed on {SURROGATE_NAME}"
    turn.status = "error"
    return turn


def test_lone_surrogates_never_break_a_view_an_export_or_the_journal(tmp_path):
    turn = surrogate_turn()
    turn._repr_html_().encode("utf-8")  # a running turn displays before it is logged
    log = mnb.TurnLog(tmp_path / "journal.jsonl")
    log.append(turn)
    assert any("U+FFFD" in w for w in turn.warnings)

    assert turn.user_text == "open caf\ufffd.txt"
    assert turn.text == "It is \ufffd\ufffd \ufffd"  # each lone half replaced
    assert turn.call_records[0].arguments == {
        "path": "caf\ufffd.txt",
        "caf\ufffd.txt": ["caf\ufffd.txt"],
    }
    assert turn.requests[0]["messages"][0]["content"] == "open caf\ufffd.txt"
    for frame in (log.turns(), log.tokens(), log.calls(), log.requests()):
        frame.to_json(date_format="iso", default_handler=str).encode("utf-8")
    log._repr_html_().encode("utf-8")
    turn._repr_html_().encode("utf-8")
    log.to_csv(tmp_path / "csv")
    log.to_parquet(tmp_path / "parquet")
    assert "caf\ufffd.txt" in (tmp_path / "csv" / "calls.csv").read_text(encoding="utf-8")
    assert pd.read_parquet(tmp_path / "parquet" / "tokens.parquet")["text"].str.len().sum() > 0
    saved = log.save(tmp_path / "saved.jsonl")
    log.close()
    raw = saved.read_bytes()
    raw.decode("ascii")
    assert b"\\udc" not in raw and b"\\ud800" not in raw  # no escaped lone surrogate either
    assert mnb.TurnLog.load(saved)[0].user_text == "open caf\ufffd.txt"


def test_a_split_surrogate_pair_in_one_string_is_joined_not_replaced():
    turn = mnb.Turn(turn=1, started_at=datetime.now(UTC), user_text="\ud83d\ude00 hi")
    log = mnb.TurnLog()
    log.append(turn)
    assert turn.user_text == "\U0001f600 hi"
    assert not turn.warnings or "U+FFFD" in turn.warnings[0]


def test_tokens_read_while_the_session_thread_appends_are_always_whole():
    """The session appends on its own thread; a notebook may read tokens() meanwhile."""
    log = mnb.TurnLog()
    turns = conversation(300, words=30)
    writer = threading.Thread(target=lambda: [log.append(t) for t in turns])
    writer.start()
    frames = []
    while writer.is_alive() or not frames:
        frames.append(log.tokens())
    writer.join()
    frames.append(log.tokens())
    for frame in frames:
        # Every answer piece is " w<turn>.<i>": a piece paired with the wrong turn shows.
        text = frame[frame["kind"] == "text"]
        prefixes = " w" + text["turn"].astype(str) + "."
        assert all(t.startswith(p) for t, p in zip(text["text"], prefixes, strict=True))
        rows = frame.groupby("turn").size()
        assert all(rows[t.turn] == len(t.token_text) for t in turns if t.turn in rows.index)
    assert len(frames[-1]) == sum(len(t.token_text) for t in turns)
