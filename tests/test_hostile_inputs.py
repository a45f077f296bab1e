"""Files, sizes and rejected requests: bad input is refused at once and never breaks later turns."""

from __future__ import annotations

import os

import pytest

import mistral_nb as mnb
from mistral_nb.local import ToolCall


@pytest.mark.parametrize("path", ["/dev/zero", "fifo"])
async def test_devices_and_pipes_are_image_errors_at_once(session, local, tmp_path, path):
    if path == "fifo":
        path = str(tmp_path / "pipe")
        os.mkfifo(path)
    with pytest.raises(mnb.ImageError, match="not a regular file"):
        await session.send("look", images=[path])
    assert local.requests == []


async def test_a_message_too_large_for_the_context_is_refused_before_sending(session, local):
    session.update_settings(model="open-mistral-7b")  # 32k tokens of context
    huge = "word " * 200_000
    with pytest.raises(mnb.MessageTooLargeError, match="cannot fit"):
        await session.send(huge)
    assert local.requests == []
    assert (await session.send("a normal message")).status == "ok"


async def test_a_huge_tool_result_is_truncated_with_a_note_and_the_conversation_goes_on(
    session, local
):
    @session.tool
    def dump() -> str:
        """Everything."""
        return "x" * 10_000_000

    local.push(ToolCall("dump", {}), "That was a lot.")
    turn = await session.send("dump it all")
    assert turn.status == "ok", turn.error
    tool_message = next(m for m in session.messages if m.get("role") == "tool")
    assert len(tool_message["content"]) < 300_000 and "truncated" in tool_message["content"]
    assert turn.call_records[0].result["truncated"] is True
    local.push("fine")
    assert (await session.send("next")).status == "ok"


async def test_a_refused_request_leaves_the_conversation_as_it_was(session, local):
    from mistral_nb.local import Fault

    await session.send("first")
    before = session.messages
    local.inject(Fault.status(400, times=1))
    refused = await session.send("this one is refused")
    assert refused.status == "error" and refused.error_status_code == 400
    assert session.messages == before
    assert any("taken out of the conversation" in w for w in refused.warnings)
    assert [t.turn for t in session.log] == [1, 2]
    assert (await session.send("after")).status == "ok"


async def test_lone_surrogates_in_a_message_are_replaced_with_a_warning(session, local):
    with pytest.warns(UnicodeWarning, match="lone surrogates"):
        turn = await session.send("file \udcff name")
    assert turn.status == "ok"
    assert local.requests[-1]["messages"][-1]["content"] == "file \ufffd name"
    session.log.turns().to_csv(os.devnull)


async def test_a_trickling_stream_ends_at_the_turn_deadline(tmp_path):
    from conftest import TEST_KEY

    # Each token arrives well within the read timeout, but the reply would take minutes.
    with mnb.LocalMistral(api_key=TEST_KEY, token_delay=0.3, reply_tokens=2000) as slow:
        async with mnb.Session(
            api_key=TEST_KEY, base_url=slow.base_url, request_timeout=2, turn_timeout=3
        ) as session:
            turn = await session.send("a very long story")
            assert turn.status == "timeout" and "deadline" in turn.error
            assert 0 < len(turn.token_text) < 2000
            slow.push("short")
            after = await session.send("again")
            assert after.status == "ok"


def test_turn_timeout_defaults_to_six_request_timeouts_and_room_for_retries(local):
    from conftest import TEST_KEY

    with mnb.Session(
        api_key=TEST_KEY, base_url=local.base_url, request_timeout=5, max_retries=2
    ) as session:
        assert session.turn_timeout == 6 * 5 + 8 * 2
    with mnb.Session(api_key=TEST_KEY, base_url=local.base_url, request_timeout=None) as session:
        assert session.turn_timeout is None


async def test_a_base_url_behind_a_same_origin_redirect_works_like_the_raw_client(local):
    import aiohttp
    from aiohttp import web
    from conftest import TEST_KEY

    async def moved(request: web.Request) -> web.Response:
        raise web.HTTPTemporaryRedirect(f"/v1/{request.match_info['tail']}")

    async def forward(request: web.Request) -> web.StreamResponse:
        async with aiohttp.ClientSession() as client:
            async with client.request(
                request.method,
                f"{local.server_url}/v1/{request.match_info['tail']}",
                data=await request.read(),
                headers={k: v for k, v in request.headers.items() if k.lower() != "host"},
            ) as upstream:
                response = web.StreamResponse(status=upstream.status)
                response.content_type = upstream.content_type
                await response.prepare(request)
                async for data in upstream.content.iter_any():
                    await response.write(data)
                await response.write_eof()
                return response

    app = web.Application()
    app.router.add_route("*", "/old/v1/{tail:.*}", moved)
    app.router.add_route("*", "/v1/{tail:.*}", forward)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        async with mnb.Session(
            api_key=TEST_KEY, base_url=f"http://127.0.0.1:{port}/old/v1"
        ) as session:
            turn = await session.send("hello through a redirect")
            assert turn.status == "ok", turn.error
            assert turn.text
    finally:
        await runner.cleanup()
