"""session.compare: variants on forks, side by side, the conversation untouched until keep()."""

from __future__ import annotations

import pytest

import mistral_nb as mnb

VARIANTS = [
    {"model": "mistral-small-latest"},
    {"model": "mistral-large-latest", "temperature": 0.2},
]


async def test_compare_leaves_the_sessions_context_unchanged(session, local):
    await session.send("My name is Ada.")
    messages, turns, settings = session.messages, len(session.log), session.settings

    cmp = await session.compare("Summarise this paragraph: cats sleep a lot.", variants=VARIANTS)

    assert session.messages == messages
    assert len(session.log) == turns
    assert session.settings == settings
    assert [t.status for t in cmp.turns] == ["ok", "ok"]
    # Each variant continued the same conversation, with its own settings on the wire.
    variant_bodies = local.requests[-2:]
    assert sorted(b["model"] for b in variant_bodies) == sorted(v["model"] for v in VARIANTS)
    for body in variant_bodies:
        assert body["messages"][:-1] == local.requests[0]["messages"] + [
            {"role": "assistant", "content": session.log[0].text}
        ]
    large = next(b for b in variant_bodies if b["model"] == "mistral-large-latest")
    assert large["temperature"] == 0.2


async def test_the_frame_tags_rows_with_the_comparison_and_variant(session):
    cmp = await session.compare("Say hello.", variants=VARIANTS)
    frame = cmp.to_frame()

    assert list(frame["variant"]) == [0, 1]
    assert set(frame["comparison"]) == {cmp.id}
    assert list(frame["model"]) == ["mistral-small-latest", "mistral-large-latest"]
    assert frame.loc[0, "similarity"] == 1.0
    for column in ("ttfb_s", "tokens_per_s", "completion_tokens", "cost_usd"):
        assert frame[column].notna().all()
    # Each variant keeps its turn in a log of the same schema as any session's.
    assert cmp.logs[1].turns().loc[0, "model"] == "mistral-large-latest"


async def test_it_renders_as_columns_with_a_word_diff(session):
    cmp = await session.compare("Compare me.", variants=VARIANTS)
    html = cmp._repr_html_()

    assert html.count("<td") == 2
    assert "variant 0" in html and "variant 1" in html
    assert "mistral-large-latest" in html
    # LocalMistral names the model in its reply: the second column shows that change.
    assert "<ins" in html


async def test_keep_makes_the_winner_part_of_the_conversation(session, local):
    await session.send("First message.")
    cmp = await session.compare("Pick one.", variants=VARIANTS)

    kept = cmp.keep(1)
    turn = await session.send("And then?")

    assert kept.turn == 2 and session.log[1].text == cmp.turns[1].text
    assert local.requests[-1]["messages"][-3:-1] == [
        {"role": "user", "content": "Pick one."},
        {"role": "assistant", "content": cmp.turns[1].text},
    ]
    assert turn.turn == 3
    assert session.settings["model"] == "mistral-small-latest"  # settings unchanged
    with pytest.raises(mnb.ExperimentError, match="from 0 to 1"):
        cmp.keep(2)


@pytest.mark.parametrize(
    ("variants", "error"),
    [
        ([], mnb.ExperimentError),
        ([{"temperature": 7}], mnb.SettingsError),
        (["x"], mnb.ExperimentError),
    ],
)
async def test_bad_variants_are_refused_before_anything_is_sent(session, local, variants, error):
    with pytest.raises(error):
        await session.compare("Hi.", variants=variants)
    assert local.requests == []
