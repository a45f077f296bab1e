"""The catalogue: current models and aliases (Mistral's 2026 data), their capabilities, the
``/v1/models`` cards, and ``model_card`` for the engine, which needs no server."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import httpx
import pytest

from mistral_nb.local import LocalMistral, model_card


@pytest.mark.parametrize(
    ("alias", "pinned", "context", "vision", "effort", "thinks"),
    [
        ("mistral-small-latest", "mistral-small-2603", 262144, True, True, False),
        ("mistral-medium-latest", "mistral-medium-3-5", 262144, True, True, False),
        ("mistral-medium-3", "mistral-medium-3-5", 262144, True, True, False),
        ("mistral-large-latest", "mistral-large-2512", 262144, True, False, False),
        ("ministral-14b-latest", "ministral-14b-2512", 262144, True, False, False),
        ("ministral-8b-latest", "ministral-8b-2512", 262144, True, False, False),
        ("ministral-3b-latest", "ministral-3b-2512", 131072, True, False, False),
        ("magistral-small-latest", "magistral-small-2509", 131072, True, True, True),
        ("magistral-medium-latest", "magistral-medium-2509", 131072, True, True, True),
        ("codestral-latest", "codestral-2508", 256000, False, False, False),
        ("devstral-latest", "devstral-2512", 262144, False, False, False),
        ("devstral-small-latest", "labs-devstral-small-2512", 262144, True, False, False),
        ("pixtral-12b", "pixtral-12b-2409", 131072, True, False, False),
        ("zai-glm-5-2", "zai-glm-5-2", 1048576, False, False, False),
        ("mistral-small-2506", "mistral-small-2506", 131072, True, False, False),
    ],
)
def test_model_card_knows_the_current_aliases(alias, pinned, context, vision, effort, thinks):
    card = model_card(alias)
    assert card is not None
    assert card["name"] == pinned
    assert card["max_context_length"] == context
    assert card["vision"] is vision and card["capabilities"]["vision"] is vision
    assert card["reasoning_effort"] is effort and card["thinks_by_default"] is thinks
    assert card["reasoning"] is (effort or thinks)
    assert card["chat"] and card["function_calling"]


def test_model_card_facts():
    small = model_card("mistral-small-latest")
    assert small is not None
    assert small["aliases"] == ["mistral-small-2603"]
    assert small["default_model_temperature"] == 0.3
    assert small["pixels_per_image_token"] == 784
    assert model_card("pixtral-large-latest")["pixels_per_image_token"] == 256
    assert model_card("mistral-medium-2508")["deprecation_replacement_model"] == (
        "mistral-medium-latest"
    )
    assert model_card("mistral-embed")["chat"] is False
    assert model_card("gpt-4o") is None
    assert model_card(None) is None  # type: ignore[arg-type]
    small["aliases"].append("mutated")
    assert model_card("mistral-small-latest")["aliases"] == ["mistral-small-2603"]


def test_every_id_is_its_own_card_and_answers_on_its_own():
    with LocalMistral() as server:
        headers = {"Authorization": "Bearer k"}
        listed = httpx.get(f"{server.base_url}/models", headers=headers).json()["data"]
        cards = {card["id"]: card for card in listed}
        assert len(cards) == len(listed)
        for card in listed:
            one = httpx.get(f"{server.base_url}/models/{card['id']}", headers=headers)
            assert one.json() == card
            for alias in card["aliases"]:
                assert cards[alias]["name"] == card["name"]
                assert set(cards[alias]["aliases"]) | {alias} == set(card["aliases"]) | {card["id"]}
            assert model_card(card["id"])["capabilities"] == card["capabilities"]


def test_the_cards_list_the_newer_capabilities():
    with LocalMistral() as server:
        card = httpx.get(
            f"{server.base_url}/models/mistral-small-latest", headers={"Authorization": "Bearer k"}
        ).json()
    assert list(card["capabilities"]) == [
        "completion_chat",
        "function_calling",
        "completion_fim",
        "fine_tuning",
        "vision",
        "ocr",
        "classification",
        "moderation",
        "audio",
        "reasoning",
        "audio_transcription",
        "audio_transcription_realtime",
        "audio_speech",
        "unified_resources",
    ]
    assert card["capabilities"]["reasoning"] is True


def test_importing_the_endpoint_does_not_load_mistral_common():
    """``import mistral_nb.local`` and ``model_card`` stay cheap: mistral-common (and the
    jsonschema format checkers it pulls in, about a second) load when a server starts."""
    code = textwrap.dedent(
        """
        import sys
        import mistral_nb
        if "mistral_common" in sys.modules:
            print("SKIP mistral_nb itself imports mistral_common")
            raise SystemExit(0)
        import mistral_nb.local as local
        card = local.model_card("mistral-small-latest")
        server = local.LocalMistral(script=[local.Reasoning("a", "b")])
        loaded = sorted(m for m in sys.modules if m.startswith(("mistral_common", "jsonschema")))
        print("LOADED", loaded[:3], card["name"])
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    if done.stdout.startswith("SKIP"):
        pytest.skip(done.stdout.strip())
    assert done.stdout.strip() == "LOADED [] mistral-small-2603"
