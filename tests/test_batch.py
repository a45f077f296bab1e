"""mnb.batch: Mistral's batch input format, and the whole round trip through LocalMistral."""

from __future__ import annotations

import json
import math

import pytest
from conftest import TEST_KEY
from mistralai.client import Mistral
from mistralai.client.models import BatchRequest, ChatCompletionRequest

import mistral_nb as mnb
from mistral_nb._pricing import cost_usd
from mistral_nb._sweep_rows import result_columns
from mistral_nb.local import Fault, LocalMistral

SPEC = {
    "prompt": "Say twenty words.",
    "grid": {"temperature": [0.0, 0.5], "top_p": [0.9, 1.0], "max_tokens": [6, 9]},
}


def test_the_batch_file_validates_against_the_sdks_request_models(tmp_path):
    path = mnb.batch.to_jsonl(
        {**SPEC, "repeats": 2, "base": {"system_prompt": "Be brief."}}, tmp_path / "runs.jsonl"
    )
    lines = [json.loads(line) for line in path.read_text().splitlines()]

    assert len(lines) == 16
    assert [line["custom_id"] for line in lines] == [str(i) for i in range(16)]
    for line in lines:
        request = BatchRequest.model_validate(line)
        ChatCompletionRequest.model_validate({"model": "mistral-small-latest", **request.body})
        assert line["body"]["messages"] == [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Say twenty words."},
        ]
    combos = {(b["temperature"], b["top_p"], b["max_tokens"]) for b in (x["body"] for x in lines)}
    assert len(combos) == 8


def test_a_bare_grid_takes_the_prompt_and_a_sweep_frame_its_swept_columns(tmp_path):
    path = mnb.batch.to_jsonl({"temperature": [0.1, 0.2]}, tmp_path / "a.jsonl", prompt="Hi.")
    assert len(path.read_text().splitlines()) == 2
    with pytest.raises(mnb.ExperimentError, match="prompt"):
        mnb.batch.to_jsonl({"temperature": [0.1]}, tmp_path / "b.jsonl")
    with pytest.raises(mnb.SettingsError):
        mnb.batch.to_jsonl({"temperature": [5.0]}, tmp_path / "c.jsonl", prompt="Hi.")


def test_results_round_trip_through_localmistrals_batch_endpoints(local):
    job = mnb.batch.submit(
        {**SPEC, "repeats": 2},
        model="mistral-small-latest",
        api_key=TEST_KEY,
        base_url=local.base_url,
    )
    results = job.wait(poll_s=0.05, progress=False).results()

    assert job.status == "SUCCESS"
    assert len(results) == 16 and (results["status"] == "ok").all()
    assert list(results["run"]) == list(range(16))
    assert list(results["repeat"]) == [0, 1] * 8
    assert results.attrs["swept"] == ["temperature", "top_p", "max_tokens"]
    # The same shape as a sweep's frame, joined on custom_id, costed at batch prices.
    assert list(results.columns) == result_columns(results.attrs["swept"])
    assert (results["completion_tokens"] <= results["max_tokens"]).all()
    row = results.iloc[3]
    assert row["cost_usd"] == pytest.approx(
        cost_usd(
            "mistral-small-latest", row["prompt_tokens"], row["completion_tokens"], 0, batch=True
        )
    )
    # Each run went through LocalMistral's chat logic with its own settings.
    wire = {(b["temperature"], b["top_p"], b["max_tokens"]) for b in local.requests}
    assert wire == {(r.temperature, r.top_p, r.max_tokens) for r in results.itertuples()}
    # The job, as the SDK sees it.
    client = Mistral(api_key=TEST_KEY, server_url=local.server_url)
    listed = client.batch.jobs.list()
    assert [j.id for j in listed.data] == [job.id]
    assert listed.data[0].succeeded_requests == 16
    assert client.files.retrieve(file_id=job.job.output_file).num_lines == 16


def test_failed_lines_are_error_rows_with_the_message(local):
    local.inject(Fault.status(400, on=2))
    job = mnb.batch.submit(
        {"prompt": "Hi.", "grid": {"temperature": [0.1, 0.2, 0.3]}},
        api_key=TEST_KEY,
        base_url=local.base_url,
    )
    results = job.wait(poll_s=0.05, progress=False).results()

    assert job.job.failed_requests == 1 and job.job.error_file
    errors = results[results["status"] == "error"]
    assert len(errors) == 1 and isinstance(errors.iloc[0]["error"], str)
    assert errors.iloc[0]["error"]
    assert math.isnan(errors.iloc[0]["cost_usd"])
    # The output file lists its lines in an order of its own; results follow the runs.
    assert list(results["run"]) == [0, 1, 2]


def test_a_cancelled_job_keeps_what_finished():
    with LocalMistral(api_key=TEST_KEY, reply_tokens=30, token_delay=0.05) as local:
        job = mnb.batch.submit(
            {"prompt": "Hi.", "grid": {"random_seed": list(range(12))}},
            api_key=TEST_KEY,
            base_url=local.base_url,
        )
        with pytest.raises(mnb.BatchJobError, match="wait"):
            job.results()
        local.wait_for_requests(1)
        job.cancel()
        job.wait(poll_s=0.05, progress=False)
        results = job.results()

    assert job.status == "CANCELLED"
    assert len(results) == 12
    assert set(results["status"]) <= {"ok", "cancelled"}
    assert (results["status"] == "cancelled").sum() >= 4


def test_attach_reads_a_job_submitted_elsewhere(local):
    job = mnb.batch.submit(
        {"prompt": "Hi.", "grid": {"temperature": [0.0, 1.0]}, "repeats": 2},
        api_key=TEST_KEY,
        base_url=local.base_url,
    )
    job.wait(poll_s=0.05, progress=False)

    again = mnb.batch.BatchJob.attach(job.id, api_key=TEST_KEY, base_url=local.base_url)

    assert again.status == "SUCCESS"
    results = again.results()
    assert list(results["repeat"]) == [0, 1, 0, 1]
    assert list(results["temperature"]) == [0.0, 0.0, 1.0, 1.0]
    assert TEST_KEY not in repr(again)


async def test_a_sweeps_frame_goes_to_the_batch_service_as_the_same_runs(local):
    swept = await mnb.sweep(
        "Say twenty words.",
        grid={"temperature": [0.0, 0.5]},
        base={"max_tokens": 7},
        repeats=2,
        api_key=TEST_KEY,
        base_url=local.base_url,
        progress=False,
    )

    job = mnb.batch.submit(swept, api_key=TEST_KEY, base_url=local.base_url)
    results = job.wait(poll_s=0.05, progress=False).results()

    assert list(results.columns) == list(swept.columns)
    assert list(results["temperature"]) == list(swept["temperature"])
    assert list(results["repeat"]) == list(swept["repeat"])
    assert list(results["reply"]) == list(swept["reply"])
    assert results["cost_usd"].sum() == pytest.approx(swept["cost_usd"].sum() / 2)


def test_a_refused_key_or_an_unknown_job_is_our_error_without_the_key(local):
    wrong = "sk-wrong-key-0123456789abcdef"
    with pytest.raises(mnb.APIError, match=r"\(401\).*MISTRAL_API_KEY") as caught:
        mnb.batch.submit(
            {"prompt": "Hi.", "grid": {"top_p": [1.0]}}, api_key=wrong, base_url=local.base_url
        )
    assert wrong not in str(caught.value) and caught.value.status_code == 401

    with pytest.raises(mnb.APIError, match="find batch job nope.*404"):
        mnb.batch.BatchJob.attach("nope", api_key=TEST_KEY, base_url=local.base_url)
