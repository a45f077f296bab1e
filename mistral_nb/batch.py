"""Mistral's batch service, for sweeps too large for one machine (10k+ runs).

::

    import mistral_nb as mnb
    spec = {"prompt": "Say twenty words.", "grid": {"temperature": [0, 0.5]}, "repeats": 2}
    mnb.batch.to_jsonl(spec, "runs.jsonl")        # Mistral's batch input, one line per run
    job = mnb.batch.submit(spec, model="mistral-small-latest")
    results = job.wait().results()               # the same DataFrame shape as mnb.sweep

``submit`` uploads the file and creates the job through the official ``mistralai`` SDK
(``client.files.upload`` then ``client.batch.jobs.create``); ``wait`` polls
``client.batch.jobs.get`` with a progress bar from the job's counts; ``results`` reads
the output and error files (lines in any order, an ``error`` that may be a bare
string) and joins them to the planned runs on ``custom_id``, at batch prices.

The plan travels with the job: the input file holds each run's body, and the job's
metadata the swept names and repeats, so ``BatchJob.attach(job_id)`` can read the
results of a job submitted from another kernel.
"""

from __future__ import annotations

import contextlib
import json
import math
import time
from collections.abc import Iterator, Mapping
from typing import Any

import pandas as pd

from ._batch_input import to_jsonl, to_lines
from ._connection import DEFAULT_BASE_URL, resolve_endpoint
from ._errors import APIError, BatchJobError, ExperimentError
from ._pricing import cost_usd
from ._settings import SETTINGS
from ._sweep_rows import result_columns

__all__ = ["BatchJob", "submit", "to_jsonl", "to_lines"]

_DONE = ("SUCCESS", "FAILED", "TIMEOUT_EXCEEDED", "CANCELLED")


@contextlib.contextmanager
def _calling(what: str) -> Iterator[None]:
    """The SDK's errors as ours: what failed, the status, and the service's own message."""
    try:
        yield
    except APIError:
        raise
    except Exception as exc:
        status = getattr(exc, "status_code", None)
        if status is None and type(exc).__module__.split(".")[0] not in ("mistralai", "httpx"):
            raise
        detail = getattr(exc, "body", None) or str(exc)
        try:
            parsed = json.loads(detail)
            if isinstance(parsed, dict):
                detail = parsed.get("message") or parsed.get("detail") or detail
        except (TypeError, ValueError):
            pass
        hint = {401: ": check MISTRAL_API_KEY", 404: ": check the job or file id and base_url"}
        where = f" ({status})" if status else " (no answer)"
        raise APIError(
            f"the batch service could not {what}{where}: {str(detail).strip()[:300]}"
            f"{hint.get(status or 0, '')}",
            status_code=status,
        ) from None


def _client(api_key: str | None, base_url: str | None) -> tuple[Any, Any]:
    try:
        from mistralai.client import Mistral
    except ImportError:  # pragma: no cover - mistralai is installed with the test extra
        raise ExperimentError(
            "the batch service goes through Mistral's official SDK: pip install mistralai"
        ) from None
    key, url, local = resolve_endpoint(api_key, base_url)
    server = (url or DEFAULT_BASE_URL).rstrip("/").removesuffix("/v1")
    return Mistral(api_key=key, server_url=server), local


def submit(
    spec: Any,
    *,
    model: str = "mistral-small-latest",
    prompt: Any = None,
    repeats: int | None = None,
    metadata: Mapping[str, str] | None = None,
    api_key: str | None = None,
    base_url: str | None = None,
    timeout_hours: int = 24,
) -> BatchJob:
    """Upload a sweep spec as a batch file and create the job; returns at once.

    The endpoint is as for ``Session()`` (``api_key`` / ``base_url``, then
    ``MISTRAL_API_KEY`` / ``MISTRAL_BASE_URL``, else a LocalMistral that lives as long
    as the job object: ``job.close()``).
    """
    lines, meta = to_lines(spec, prompt=prompt, repeats=repeats)
    client, local = _client(api_key, base_url)
    try:
        data = "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines).encode()
        with _calling("take the batch file"):
            uploaded = client.files.upload(
                file={"file_name": "mistral_nb_batch.jsonl", "content": data}, purpose="batch"
            )
        with _calling("create the job"):
            job = client.batch.jobs.create(
                endpoint="/v1/chat/completions",
                input_files=[uploaded.id],
                model=model,
                metadata={**meta, **dict(metadata or {})},
                timeout_hours=timeout_hours,
            )
    except BaseException:
        if local is not None:
            local.stop()
        raise
    return BatchJob(client, job, local=local)


class BatchJob:
    """A batch job on Mistral's batch service (or LocalMistral's).

    Attributes:
        id: The job's id.
        job: The SDK's latest ``BatchJob`` (status, counts, files).
    """

    def __init__(self, client: Any, job: Any, *, local: Any = None) -> None:
        self._client = client
        self.job = job
        self._local = local

    @classmethod
    def attach(
        cls, job_id: str, *, api_key: str | None = None, base_url: str | None = None
    ) -> BatchJob:
        """The job ``job_id``, submitted earlier (from any kernel)."""
        client, local = _client(api_key, base_url)
        with _calling(f"find batch job {job_id}"):
            job = client.batch.jobs.get(job_id=job_id)
        return cls(client, job, local=local)

    @property
    def id(self) -> str:
        return str(self.job.id)

    @property
    def status(self) -> str:
        return str(self.job.status)

    @property
    def done(self) -> bool:
        return self.status in _DONE

    def refresh(self) -> BatchJob:
        """Fetch the job's status and counts again."""
        with _calling(f"report on batch job {self.id}"):
            self.job = self._client.batch.jobs.get(job_id=self.id)
        return self

    def wait(
        self, *, poll_s: float = 2.0, timeout: float | None = None, progress: bool = True
    ) -> BatchJob:
        """Poll until the job is done (any outcome), with a progress bar of its counts.

        Raises:
            TimeoutError: ``timeout`` seconds passed first (the job runs on).
        """
        from tqdm.auto import tqdm

        deadline = None if timeout is None else time.monotonic() + timeout
        with tqdm(
            total=self.job.total_requests, desc="batch", unit="run", disable=not progress
        ) as bar:
            while True:
                bar.n = self.job.completed_requests
                bar.set_postfix(status=self.status, failed=self.job.failed_requests, refresh=False)
                bar.refresh()
                if self.done:
                    return self
                if deadline is not None and time.monotonic() > deadline:
                    raise TimeoutError(
                        f"batch job {self.id} is still {self.status} after {timeout} s; "
                        "call wait() again later, or BatchJob.attach(job_id) from another kernel"
                    )
                time.sleep(poll_s)
                self.refresh()

    def cancel(self) -> BatchJob:
        """Ask the service to cancel the job (the runs done so far stay readable)."""
        with _calling(f"cancel batch job {self.id}"):
            self.job = self._client.batch.jobs.cancel(job_id=self.id)
        return self

    def close(self) -> None:
        """Stop the LocalMistral ``submit`` started for this job, if any."""
        if self._local is not None:
            self._local.stop()
            self._local = None

    def _read(self, file_id: str | None) -> list[Any]:
        if not file_id:
            return []
        with _calling(f"send file {file_id}"):
            text = self._client.files.download(file_id=file_id).read().decode("utf-8", "replace")
        return [json.loads(line) for line in text.splitlines() if line.strip()]

    def results(self) -> pd.DataFrame:
        """The runs as a DataFrame shaped like ``mnb.sweep``'s, joined on ``custom_id``.

        Runs without an output line (a cancelled job) have status ``cancelled`` (or
        ``missing``); a failed line is status ``error`` with its message.

        Raises:
            BatchJobError: the job is not done, or ended without any output file.
        """
        if not self.done:
            self.refresh()
        if not self.done:
            raise BatchJobError(
                f"batch job {self.id} is {self.status}: call job.wait() first",
                job_id=self.id,
                status=self.status,
            )
        output = self._read(_unset(self.job.output_file))
        errors = self._read(_unset(self.job.error_file))
        if not output and not errors and self.status != "CANCELLED":
            raise BatchJobError(
                f"batch job {self.id} ended {self.status} without results "
                f"({_unset(self.job.errors) or 'no error given'})",
                job_id=self.id,
                status=self.status,
            )
        answers: dict[str, Any] = {}
        for line in errors + output:  # an output line wins over an error-file duplicate
            if isinstance(line, dict) and line.get("custom_id") is not None:
                answers[str(line["custom_id"])] = line
        inputs = [line for f in self.job.input_files for line in self._read(f)]
        meta = _unset(self.job.metadata) or {}
        swept = [s for s in str(meta.get("mistral_nb_swept", "")).split(",") if s]
        repeats = int(meta.get("mistral_nb_repeats", 1) or 1)
        missing = "cancelled" if self.status == "CANCELLED" else "missing"
        rows = [
            _row(
                line,
                answers.get(str(line.get("custom_id"))),
                swept,
                repeats,
                missing,
                self.job.model,
            )
            for line in inputs
        ]
        frame = pd.DataFrame(rows, columns=result_columns(swept))
        for column in ("prompt_tokens", "completion_tokens", "cached_tokens"):
            frame[column] = frame[column].astype("Int64")
        frame.attrs["swept"] = swept
        frame.attrs["summary"] = {
            "runs": len(frame),
            "ok": int((frame["status"] == "ok").sum()),
            "errors": int((frame["status"] == "error").sum()),
            "job_id": self.id,
            "job_status": self.status,
        }
        return frame

    def __repr__(self) -> str:
        job = self.job
        return (
            f"<BatchJob {self.id} {self.status}: {job.completed_requests}/{job.total_requests} "
            f"done, {job.failed_requests} failed>"
        )


def _unset(value: Any) -> Any:
    # The SDK marks absent optional fields with an Unset object, which is falsy-unsafe.
    return None if type(value).__name__ == "Unset" else value


def _row(
    line: dict[str, Any],
    answer: dict[str, Any] | None,
    swept: list[str],
    repeats: int,
    missing: str,
    job_model: Any,
) -> dict[str, Any]:
    custom_id = str(line.get("custom_id"))
    body = line.get("body") or {}
    run = int(custom_id) if custom_id.isdigit() else custom_id
    row: dict[str, Any] = {
        "run": run,
        "repeat": run % repeats if isinstance(run, int) else 0,
        **{name: body.get(SETTINGS[name].wire_name or "", None) for name in swept},
        "status": missing,
        "reply": "",
        "rate_limited": 0,
        "attempts": 1,
        "n_calls": 0,
        "cost_usd": math.nan,
        "log": None,
    }
    if answer is None:
        row["error"] = "no result for this run in the job's output"
        return row
    response = answer.get("response") or {}
    result = response.get("body") if isinstance(response, dict) else None
    error = answer.get("error")
    if error is not None or response.get("status_code") != 200 or not isinstance(result, dict):
        row["status"] = "error"
        row["error"] = error if isinstance(error, str) else json.dumps(error or result)
        return row
    choice = (result.get("choices") or [{}])[0]
    message = choice.get("message") or {}
    content = message.get("content")
    if isinstance(content, list):
        content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
    usage = result.get("usage") or {}
    cached = (usage.get("prompt_tokens_details") or {}).get("cached_tokens")
    model = result.get("model") or body.get("model") or _unset(job_model) or ""
    row.update(
        status="ok",
        reply=content or "",
        finish_reason=choice.get("finish_reason"),
        prompt_tokens=usage.get("prompt_tokens"),
        completion_tokens=usage.get("completion_tokens"),
        cached_tokens=cached,
        n_calls=len(message.get("tool_calls") or []),
        cost_usd=cost_usd(
            model, usage.get("prompt_tokens"), usage.get("completion_tokens"), cached, batch=True
        ),
        error=None,
    )
    return row


# Documented (and shown in reprs) where users find them: mnb.batch.
to_jsonl.__module__ = to_lines.__module__ = __name__
