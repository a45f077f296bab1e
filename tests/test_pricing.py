"""The price table and the cost of a request, checked against Mistral's prices by hand.

The expected figures below are copied by hand from Mistral's own published data
(mistralai/platform-docs-public @ 222f4ba9, 2026-08-21: each model's ``pricing`` block and
``identifiers.apiNames``), as the team's price notes transcribe it; they are not read from
the package's table, so a typo in either shows up here.
"""

from __future__ import annotations

import json
import math
from importlib import resources

import numpy as np
import pytest

from mistral_nb._pricing import (
    PRICES_AS_OF,
    PRICES_SOURCE,
    cost_usd,
    price_for,
    price_table,
    usage_cost_usd,
)

# name asked -> (pinned id, input, cached input, output), USD per million tokens.
# Cached input: Mistral's figure where its pricing page shows one, else input x 0.1.
EXPECTED = {
    # current
    "mistral-large-2512": ("mistral-large-2512", 0.50, 0.05, 1.50),
    "mistral-large-latest": ("mistral-large-2512", 0.50, 0.05, 1.50),
    "mistral-medium-3-5": ("mistral-medium-3-5", 1.50, 0.15, 7.50),
    "mistral-medium-3": ("mistral-medium-3-5", 1.50, 0.15, 7.50),
    "mistral-medium-latest": ("mistral-medium-3-5", 1.50, 0.15, 7.50),
    "mistral-small-2603": ("mistral-small-2603", 0.15, 0.015, 0.60),
    "mistral-small-latest": ("mistral-small-2603", 0.15, 0.015, 0.60),
    "ministral-14b-2512": ("ministral-14b-2512", 0.20, 0.02, 0.20),
    "ministral-14b-latest": ("ministral-14b-2512", 0.20, 0.02, 0.20),
    "ministral-8b-2512": ("ministral-8b-2512", 0.15, 0.015, 0.15),
    "ministral-8b-latest": ("ministral-8b-2512", 0.15, 0.015, 0.15),
    "ministral-3b-2512": ("ministral-3b-2512", 0.10, 0.01, 0.10),
    "ministral-3b-latest": ("ministral-3b-2512", 0.10, 0.01, 0.10),
    "codestral-2508": ("codestral-2508", 0.30, 0.03, 0.90),
    "codestral-latest": ("codestral-2508", 0.30, 0.03, 0.90),
    "voxtral-small-2507": ("voxtral-small-2507", 0.10, 0.01, 0.40),
    "voxtral-small-latest": ("voxtral-small-2507", 0.10, 0.01, 0.40),
    "zai-glm-5-2": ("zai-glm-5-2", 1.40, 0.14, 4.40),
    # deprecated
    "magistral-medium-2509": ("magistral-medium-2509", 2.00, 0.20, 5.00),
    "magistral-medium-latest": ("magistral-medium-2509", 2.00, 0.20, 5.00),
    "magistral-small-2509": ("magistral-small-2509", 0.50, 0.05, 1.50),
    "magistral-small-latest": ("magistral-small-2509", 0.50, 0.05, 1.50),
    "devstral-2512": ("devstral-2512", 0.40, 0.04, 2.00),
    "devstral-latest": ("devstral-2512", 0.40, 0.04, 2.00),
    "devstral-medium-latest": ("devstral-2512", 0.40, 0.04, 2.00),
    "devstral-medium-2507": ("devstral-medium-2507", 0.40, 0.04, 2.00),
    "labs-devstral-small-2512": ("labs-devstral-small-2512", 0.10, 0.01, 0.30),
    "devstral-small-latest": ("labs-devstral-small-2512", 0.10, 0.01, 0.30),
    "devstral-small-2507": ("devstral-small-2507", 0.10, 0.01, 0.30),
    "mistral-medium-2508": ("mistral-medium-2508", 0.40, 0.04, 2.00),
    "mistral-medium-2505": ("mistral-medium-2505", 0.40, 0.04, 2.00),
    "mistral-small-2506": ("mistral-small-2506", 0.10, 0.01, 0.30),
    "mistral-large-2411": ("mistral-large-2411", 2.00, 0.20, 6.00),
    "pixtral-large-2411": ("pixtral-large-2411", 2.00, 0.20, 6.00),
    "pixtral-large-latest": ("pixtral-large-2411", 2.00, 0.20, 6.00),
    "pixtral-12b-2409": ("pixtral-12b-2409", 0.15, 0.015, 0.15),
    "open-mistral-nemo-2407": ("open-mistral-nemo-2407", 0.15, 0.015, 0.15),
    "open-mistral-nemo": ("open-mistral-nemo-2407", 0.15, 0.015, 0.15),
    "ministral-8b-2410": ("ministral-8b-2410", 0.10, 0.01, 0.10),
    "ministral-3b-2410": ("ministral-3b-2410", 0.04, 0.004, 0.04),
    "labs-mistral-small-creative": ("labs-mistral-small-creative", 0.10, 0.01, 0.30),
    "voxtral-mini-2507": ("voxtral-mini-2507", 0.04, 0.004, 0.04),
}

# Mistral's pricing page shows a cached price for these (input x 0.1, GLM its own figure);
# for every other model the cached price is our computation from the 10% rule.
PUBLISHED_CACHED = {
    "mistral-large-2512", "mistral-medium-3-5", "mistral-small-2603", "ministral-14b-2512",
    "ministral-8b-2512", "ministral-3b-2512", "codestral-2508", "zai-glm-5-2",
}  # fmt: skip

UNPRICED = [
    "voxtral-mini-latest",  # Mistral's data gives it to a chat and a transcription model
    "mistral-large-2402",  # retired, no price
    "open-mistral-7b",  # retired, no price
    "codestral-2501",  # retired, a leftover price Mistral says not to budget against
    "mistral-small-2501",  # idem
    "mistral-medium-2604",  # listed by a third party only, not in Mistral's apiNames
    "mistral-small",  # not an id
    "pixtral-12b",  # not an id (Mistral answered it as ministral-14b-latest)
    "ft:open-mistral-7b:587a6b29:20240514:7e773925",  # fine-tuned
    "mistral-embed",  # not a chat model
    "MISTRAL-SMALL-LATEST",  # ids are case-sensitive on the wire
    "",
]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_id_and_alias_resolves_to_mistrals_price(name):
    model, input_, cached, output = EXPECTED[name]
    price = price_for(name)
    assert price is not None
    assert price.model == model
    assert price.input == pytest.approx(input_)
    assert price.cached_input == pytest.approx(cached)
    assert price.output == pytest.approx(output)
    assert price.cached_input_published == (model in PUBLISHED_CACHED)


def test_the_table_prices_exactly_the_expected_names():
    assert set(price_table()["model"]) == set(EXPECTED)


@pytest.mark.parametrize("name", UNPRICED)
def test_a_model_without_a_price_is_none_and_costs_nan(name):
    assert price_for(name) is None
    assert math.isnan(cost_usd(name, 1000, 1000))


def test_a_non_string_model_is_not_priced():
    assert price_for(None) is None  # type: ignore[arg-type]
    assert math.isnan(cost_usd(None, 10, 10))  # type: ignore[arg-type]


def test_cost_of_a_request_with_cached_tokens():
    # 8,000 uncached x 0.15 + 2,000 cached x 0.015 + 500 out x 0.60, per million
    assert cost_usd("mistral-small-latest", 10_000, 500, 2_000) == pytest.approx(0.00153)


def test_cost_of_a_million_in_and_out_and_the_batch_discount():
    assert cost_usd("mistral-medium-latest", 1_000_000, 1_000_000) == pytest.approx(9.0)
    assert cost_usd("mistral-medium-latest", 1_000_000, 1_000_000, batch=True) == pytest.approx(4.5)


def test_cached_tokens_use_the_10_percent_rule_where_mistral_publishes_no_cached_price():
    # magistral-medium: input 2.00 -> cached 0.20; output 5.00
    assert cost_usd("magistral-medium-latest", 100_000, 10_000, 100_000) == pytest.approx(0.07)


def test_cached_tokens_use_a_published_cached_price():
    assert cost_usd("zai-glm-5-2", 1_000_000, 0, 1_000_000) == pytest.approx(0.14)


def test_reasoning_is_priced_as_output_once():
    # A real reply with reasoning_effort high (mistral-small-latest, 2026-08): usage was
    # prompt 31, completion 66, and the 66 already include the thinking tokens.
    assert cost_usd("mistral-small-latest", 31, 66, 0) == pytest.approx(
        (31 * 0.15 + 66 * 0.60) / 1e6
    )


def test_a_missing_count_gives_nan_and_a_missing_cached_count_is_zero():
    assert math.isnan(cost_usd("mistral-small-latest", None, 10))
    assert math.isnan(cost_usd("mistral-small-latest", 10, None))
    assert math.isnan(cost_usd("mistral-small-latest", float("nan"), 10))
    assert cost_usd("mistral-small-latest", 1_000_000, 0, None) == pytest.approx(0.15)


@pytest.mark.parametrize(
    ("prompt", "completion", "cached"),
    [(-1, 10, 0), (10, -1, 0), (10, 10, -1), (10, 10, 11), (10.5, 10, 0), (True, 10, 0),
     ("10", 10, 0), (float("inf"), 10, 0)],
)  # fmt: skip
def test_counts_that_are_not_counts_give_nan_never_an_exception(prompt, completion, cached):
    assert math.isnan(cost_usd("mistral-small-latest", prompt, completion, cached))


def test_integral_floats_and_numpy_integers_are_counts():
    # A DataFrame column with gaps holds float64; numpy gives its own integer types.
    expected = cost_usd("mistral-small-latest", 1000, 100, 10)
    assert cost_usd("mistral-small-latest", 1000.0, 100.0, 10.0) == expected
    assert cost_usd("mistral-small-latest", np.int64(1000), np.int32(100), np.int64(10)) == expected


def test_zero_tokens_cost_zero():
    assert cost_usd("mistral-small-latest", 0, 0) == 0.0


def test_a_deprecated_model_says_when_it_retires_and_what_replaces_it():
    price = price_for("open-mistral-nemo")
    assert price is not None
    assert price.status == "deprecated"
    assert price.retired_on == "2026-07-31"
    assert price.replacement == "ministral-8b-2512"
    current = price_for("mistral-small-latest")
    assert current is not None
    assert (current.status, current.retired_on, current.replacement) == ("current", None, None)


def test_the_prices_state_their_date_and_source():
    assert PRICES_AS_OF == "2026-08-21"
    assert "mistralai/platform-docs-public" in PRICES_SOURCE
    assert "222f4ba9114f84ce9f2d718b9a12fbac1e527f4b" in PRICES_SOURCE
    price = price_for("codestral-latest")
    assert price is not None
    assert (price.as_of, price.source) == (PRICES_AS_OF, PRICES_SOURCE)


def test_price_table_has_one_row_per_name_with_its_date():
    table = price_table()
    assert table["model"].is_unique
    assert list(table.columns[:7]) == [
        "model", "id", "name", "status", "input", "cached_input", "output",
    ]  # fmt: skip
    assert table.attrs["as_of"] == PRICES_AS_OF
    row = table.set_index("model").loc["devstral-small-latest"]
    assert row["id"] == "labs-devstral-small-2512"


def test_the_price_file_is_package_data_with_its_date_and_source():
    # Read the way an installed wheel reads it, not by a path into the source tree.
    raw = json.loads((resources.files("mistral_nb") / "data" / "prices.json").read_text())
    assert raw["as_of"] == PRICES_AS_OF
    assert raw["currency"] == "USD"
    assert raw["cached_input_factor"] == 0.1
    assert raw["batch_factor"] == 0.5
    for row in raw["models"]:
        assert row["input"] >= 0 and row["output"] >= 0, row["id"]
        assert row["status"] in {"current", "preview", "deprecated"}, row["id"]


# -- from a usage, as Mistral or pipecat reports it ------------------------------------------

# The usage of a real streamed reply (api.mistral.ai, 2026-08, mistral-small-latest; capture
# 001 of the team's real-traffic recordings), verbatim.
RECORDED_USAGE = {
    "prompt_tokens": 22,
    "total_tokens": 30,
    "completion_tokens": 8,
    "prompt_tokens_details": {"cached_tokens": 0},
    "service_tier": "standard",
}


def test_usage_cost_reads_mistrals_usage():
    expected = (22 * 0.15 + 8 * 0.60) / 1e6
    assert usage_cost_usd("mistral-small-latest", RECORDED_USAGE) == pytest.approx(expected)


def test_usage_cost_reads_each_form_of_the_cached_count():
    # Mistral's form since March 2026, its February 2026 form, and pipecat's field name.
    current = {"prompt_tokens": 1000, "completion_tokens": 0,
               "prompt_tokens_details": {"cached_tokens": 640}}  # fmt: skip
    february = {"prompt_tokens": 1000, "completion_tokens": 0, "num_cached_tokens": 640}
    pipecat_dump = {"prompt_tokens": 1000, "completion_tokens": 0, "cache_read_input_tokens": 640}
    expected = (360 * 0.15 + 640 * 0.015) / 1e6
    for usage in (current, february, pipecat_dump):
        assert usage_cost_usd("mistral-small-latest", usage) == pytest.approx(expected), usage


def test_usage_cost_reads_pipecats_token_usage_object():
    from pipecat.metrics.metrics import LLMTokenUsage

    usage = LLMTokenUsage(
        prompt_tokens=1000,
        completion_tokens=66,
        total_tokens=1066,
        cache_read_input_tokens=640,
        reasoning_tokens=50,  # inside the 66: not priced twice
    )
    expected = (360 * 0.15 + 640 * 0.015 + 66 * 0.60) / 1e6
    assert usage_cost_usd("mistral-small-latest", usage) == pytest.approx(expected)
    assert usage_cost_usd("mistral-small-latest", usage, batch=True) == pytest.approx(expected / 2)


def test_usage_cost_without_a_usage_is_nan():
    assert math.isnan(usage_cost_usd("mistral-small-latest", None))
    assert math.isnan(usage_cost_usd("mistral-small-latest", {}))
    assert math.isnan(usage_cost_usd("mistral-small-latest", {"prompt_tokens": 5}))
    assert math.isnan(usage_cost_usd("no-such-model", RECORDED_USAGE))
    no_details = {"prompt_tokens": 10, "completion_tokens": 0, "prompt_tokens_details": None}
    assert usage_cost_usd("mistral-small-latest", no_details) == pytest.approx(1.5e-6)
