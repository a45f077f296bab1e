"""The session works from any event loop and any thread, and scripts exit cleanly.

Scripts run as real subprocesses with a time limit: that is where ``asyncio.run``
hung and "Task was destroyed but it is pending!" showed before the session owned
its runtime.  Each script talks to a LocalMistral it starts itself (no key set).
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import pytest
from conftest import TEST_KEY

import mistral_nb as mnb

SCRIPT_TIMEOUT_S = 90


def run_script(body: str, tmp_path, *, timeout: float = SCRIPT_TIMEOUT_S):
    script = tmp_path / "script.py"
    script.write_text(textwrap.dedent(body))
    env = {k: v for k, v in os.environ.items() if k not in ("MISTRAL_API_KEY", "MISTRAL_BASE_URL")}
    return subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        cwd=tmp_path,
    )


def assert_clean_exit(result) -> None:
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Task was destroyed" not in result.stderr, result.stderr[-3000:]
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    assert "never awaited" not in result.stderr, result.stderr[-3000:]


def test_asyncio_run_with_aclose_exits(tmp_path):
    result = run_script(
        """
        import asyncio
        import mistral_nb as mnb

        async def main():
            session = mnb.Session()
            turn = await session.send("Hello from a script")
            print("STATUS", turn.status, bool(turn.text))
            await session.aclose()

        asyncio.run(main())
        print("EXITED")
        """,
        tmp_path,
    )
    assert_clean_exit(result)
    assert "STATUS ok True" in result.stdout and "EXITED" in result.stdout


def test_asyncio_run_without_close_exits_quietly(tmp_path):
    # The session made outside the coroutine, used inside it, never closed.
    result = run_script(
        """
        import asyncio
        import mistral_nb as mnb

        session = mnb.Session()

        async def main():
            turn = await session.send("Hello")
            print("STATUS", turn.status)

        asyncio.run(main())
        asyncio.run(main())   # a second, new loop
        """,
        tmp_path,
    )
    assert_clean_exit(result)
    assert result.stdout.count("STATUS ok") == 2


def test_ask_then_asyncio_run_then_ask(tmp_path):
    result = run_script(
        """
        import asyncio
        import mistral_nb as mnb

        session = mnb.Session()
        print("A", session.ask("first").status)
        print("B", asyncio.run(session.send("second")).status)
        print("C", session.ask("third").status)
        print("TURNS", [t.turn for t in session.log])
        session.close()
        """,
        tmp_path,
    )
    assert_clean_exit(result)
    assert "A ok" in result.stdout and "B ok" in result.stdout and "C ok" in result.stdout
    assert "TURNS [1, 2, 3]" in result.stdout


def test_a_script_that_never_closes_exits_promptly(tmp_path):
    result = run_script(
        """
        import mistral_nb as mnb

        session = mnb.Session()
        session.update_settings(temperature=0.2)
        print("STATUS", session.ask("hello").status)
        """,
        tmp_path,
    )
    assert_clean_exit(result)
    assert "STATUS ok" in result.stdout


def test_session_made_inside_asyncio_run_and_left_open(tmp_path):
    result = run_script(
        """
        import asyncio
        import mistral_nb as mnb

        async def main():
            session = mnb.Session()
            print("STATUS", (await session.send("hi")).status)
            session.update_settings(max_tokens=5)
            print("MAX", (await session.send("hi again")).requests[-1]["max_tokens"])

        asyncio.run(main())
        """,
        tmp_path,
    )
    assert_clean_exit(result)
    assert "STATUS ok" in result.stdout and "MAX 5" in result.stdout


def test_ctrl_c_during_ask_cancels_the_turn_and_the_next_one_works(tmp_path):
    # A real SIGINT, as Ctrl+C or Jupyter's stop button sends, lands mid-reply.
    result = run_script(
        f"""
        import os, signal, threading, time
        import mistral_nb as mnb

        local = mnb.LocalMistral(api_key="{TEST_KEY}", token_delay=0.02, reply_tokens=300)
        local.start()
        session = mnb.Session(api_key="{TEST_KEY}", base_url=local.base_url)

        def interrupt_when_streaming():
            while not session.busy or len(session.log) or not session._recorder.turn.token_text:
                time.sleep(0.005)
            os.kill(os.getpid(), signal.SIGINT)

        threading.Thread(target=interrupt_when_streaming, daemon=True).start()
        try:
            session.ask("a long story please")
            print("NOT INTERRUPTED")
        except KeyboardInterrupt:
            last = session.log[-1]
            print("INTERRUPTED", last.turn, last.status, len(last.token_text) > 0)
        local.push("Short.")
        turn = session.ask("and now?")
        print("NEXT", turn.turn, turn.status, turn.text)
        session.close()
        local.stop()
        """,
        tmp_path,
    )
    assert_clean_exit(result)
    assert "INTERRUPTED 1 cancelled True" in result.stdout, result.stdout
    assert "NEXT 2 ok Short." in result.stdout, result.stdout


# -- threads and loops, in this process ---------------------------------------------


def test_send_from_a_worker_thread_with_its_own_loop(session):
    results: list[str] = []

    def worker() -> None:
        async def go() -> None:
            for text in ("one", "two"):
                turn = await session.send(text)
                results.append(turn.status)

        asyncio.run(go())

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join(60)
    assert results == ["ok", "ok"]
    assert [t.turn for t in session.log] == [1, 2]


def test_blocking_calls_from_plain_threads(local):
    session = mnb.Session(api_key=TEST_KEY, base_url=local.base_url)
    try:
        statuses: list[str] = []
        thread = threading.Thread(target=lambda: statuses.append(session.ask("hello").status))
        thread.start()
        thread.join(60)
        assert statuses == ["ok"]
        # A second thread changes settings; the next request carries them.
        thread = threading.Thread(target=lambda: session.update_settings(temperature=0.4))
        thread.start()
        thread.join(10)
        assert session.settings["temperature"] == 0.4
        turn = session.ask("again")
        assert turn.requests[-1]["temperature"] == 0.4
    finally:
        closer = threading.Thread(target=session.close)
        closer.start()
        closer.join(30)
    assert session.closed


def test_cancel_from_another_thread_frees_the_turn(tmp_path):
    with mnb.LocalMistral(api_key=TEST_KEY, token_delay=0.02, reply_tokens=400) as slow:
        with mnb.Session(api_key=TEST_KEY, base_url=slow.base_url) as session:

            def cancel_when_streaming() -> None:
                while not session.busy or len(session._recorder.turn.token_text) < 5:
                    time.sleep(0.005)
                assert session.cancel() is True

            thread = threading.Thread(target=cancel_when_streaming)
            thread.start()
            turn = session.ask("A long story")
            thread.join(10)
            assert turn.status == "cancelled"
            assert 5 <= len(turn.token_text) < 400
            slow.push("Fine.")
            after = session.ask("again")
            assert (after.status, after.text, after.turn) == ("ok", "Fine.", 2)


def test_reset_during_a_turn_is_a_session_busy_error():
    with mnb.LocalMistral(api_key=TEST_KEY, token_delay=0.02, reply_tokens=200) as slow:
        with mnb.Session(api_key=TEST_KEY, base_url=slow.base_url) as session:
            errors: list[BaseException] = []

            def reset_when_streaming() -> None:
                while not session.busy:
                    time.sleep(0.005)
                try:
                    session.reset()
                except mnb.MistralNBError as exc:
                    errors.append(exc)
                session.cancel()

            thread = threading.Thread(target=reset_when_streaming)
            thread.start()
            session.ask("story")
            thread.join(10)
            assert len(errors) == 1 and isinstance(errors[0], mnb.SessionBusyError)
            assert "cancel()" in str(errors[0])


def test_a_blocking_call_from_a_listener_is_refused_not_a_deadlock(session):
    seen: list[BaseException] = []

    def listener(event: mnb.SessionEvent) -> None:
        if event.kind == "turn_ended":
            try:
                session.ask("nested")
            except mnb.RuntimeMisuseError as exc:
                seen.append(exc)

    session.subscribe(listener)
    turn = session.ask("hi")
    assert turn.status == "ok"
    assert len(seen) == 1 and "await session.send" in str(seen[0])


# -- one service, many sessions ------------------------------------------------------


def test_one_service_many_sessions_and_the_service_untouched(local):
    from pipecat.services.mistral.llm import MistralLLMService

    seen_starts: list[str] = []
    llm = MistralLLMService(
        api_key=TEST_KEY,
        base_url=local.base_url,
        settings=MistralLLMService.Settings(model="mistral-small-latest", temperature=0.25),
    )

    async def on_started(service, function_calls) -> None:
        seen_starts.extend(call.function_name for call in function_calls)

    llm.event_handler("on_function_calls_started")(on_started)
    client = llm._client

    first = mnb.Session(llm=llm)
    second = mnb.Session(llm=llm)
    try:
        assert type(llm) is MistralLLMService  # never switched to another class
        assert first.llm is not llm and second.llm is not first.llm
        assert first.ask("hi").requests[-1]["temperature"] == 0.25
        first.close()
        turn = second.ask("still there?")
        assert turn.status == "ok", turn.error
        assert llm._client is client and not client.is_closed()

        @second.tool
        def lookup(key: str) -> str:
            """Look a key up."""
            return key.upper()

        local.push(mnb.local.ToolCall("lookup", {"key": "abc"}), "Done.")
        assert second.ask("use lookup").status == "ok"
        assert seen_starts == ["lookup"]  # the service's handler carried over
    finally:
        second.close()
    third = mnb.Session(llm=llm)  # still a good seed after both closed
    try:
        assert third.ask("again").status == "ok"
    finally:
        third.close()


def test_settings_objects_are_validated_like_update_settings(local):
    from pipecat.services.mistral.llm import MistralLLMService

    with pytest.raises(mnb.SettingsError, match="temperature=5.0"):
        mnb.Session(
            api_key=TEST_KEY,
            base_url=local.base_url,
            settings=MistralLLMService.Settings(temperature=5.0),
        )
    bad = MistralLLMService(
        api_key=TEST_KEY, base_url=local.base_url, settings=MistralLLMService.Settings(top_p=0)
    )
    with pytest.raises(mnb.SettingsError, match="top_p"):
        mnb.Session(llm=bad)


def test_no_thread_is_left_after_close(local):
    before = set(threading.enumerate())
    session = mnb.Session(api_key=TEST_KEY, base_url=local.base_url)
    session.ask("hi")
    session.close()
    # The server's own worker threads belong to the fixture, not to the session.
    left = [
        t
        for t in set(threading.enumerate()) - before
        if t.is_alive() and not t.name.startswith("LocalMistral")
    ]
    assert left == []


@pytest.mark.skipif(not hasattr(signal, "SIGINT"), reason="needs POSIX signals")
def test_scripts_stay_quick_to_exit(tmp_path):
    # A script whose session is mid-turn when the interpreter exits still ends.
    result = run_script(
        f"""
        import threading
        import mistral_nb as mnb

        local = mnb.LocalMistral(api_key="{TEST_KEY}", token_delay=0.05, reply_tokens=2000)
        local.start()
        session = mnb.Session(api_key="{TEST_KEY}", base_url=local.base_url)
        threading.Thread(target=session.ask, args=("never finishes",), daemon=True).start()
        import time; time.sleep(0.5)
        print("LEAVING")
        """,
        tmp_path,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Task was destroyed" not in result.stderr
    assert "LEAVING" in result.stdout
