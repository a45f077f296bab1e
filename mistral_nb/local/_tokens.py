"""Token counting and token-sized stream pieces, with mistral-common's shipped Tekken tokenizer.

The tokenizer (``mistral_common/data/tekken_240911.json``, the v3 Tekken with an image
encoder) is loaded once per process, from the installed package: no network. Images are
counted with the tokenizer's own patch arithmetic, without resizing pixels (that would
need OpenCV, and only the count matters here).
"""

from __future__ import annotations

import codecs
import threading
from collections.abc import Sequence
from importlib import resources
from typing import Any

import numpy as np
from mistral_common.exceptions import MistralCommonException
from mistral_common.protocol.instruct.chunk import ImageChunk, ImageURLChunk
from mistral_common.protocol.instruct.request import ChatCompletionRequest
from mistral_common.tokens.tokenizers.image import ImageEncoder, ImageEncoding
from mistral_common.tokens.tokenizers.mistral import MistralTokenizer

__all__ = [
    "LONG_TEXT",
    "TOKENIZER_FILE",
    "count_long",
    "count_prompt",
    "count_text",
    "decode",
    "encode_text",
    "fit_to_tokens",
    "load_tokenizer",
    "stream_pieces",
    "tokenizer_loaded",
]

TOKENIZER_FILE = "tekken_240911.json"

_lock = threading.Lock()
_tokenizer: MistralTokenizer | None = None


class _CountingImageEncoder(ImageEncoder):
    """The tokenizer's image encoder, minus the pixel work: same tokens, placeholder pixels."""

    def __call__(self, content: ImageChunk | ImageURLChunk) -> ImageEncoding:
        if not isinstance(content, ImageChunk):  # pragma: no cover - never built here
            raise TypeError("only decoded images are counted locally")
        width, height = self._image_to_num_tokens(content.image)
        tokens = ([self.special_ids.img] * width + [self.special_ids.img_break]) * height
        tokens[-1] = self.special_ids.img_end
        return ImageEncoding(tokens=tokens, image=np.zeros((3, 1, 1), dtype=np.float32))


def load_tokenizer() -> MistralTokenizer:
    """The process-wide tokenizer, loaded on first use (about a second), then cached."""
    global _tokenizer
    with _lock:
        if _tokenizer is None:
            path = resources.files("mistral_common") / "data" / TOKENIZER_FILE
            with resources.as_file(path) as file:
                tokenizer = MistralTokenizer.from_file(str(file))
            instruct = tokenizer.instruct_tokenizer
            encoder = getattr(instruct, "image_encoder", None)
            if encoder is not None:
                instruct.image_encoder = _CountingImageEncoder(  # type: ignore[attr-defined]
                    encoder.image_config, encoder.special_ids
                )
            _tokenizer = tokenizer
        return _tokenizer


def tokenizer_loaded() -> bool:
    """Whether the tokenizer is in memory (so using it will not block for a second)."""
    return _tokenizer is not None


def encode_text(text: str) -> list[int]:
    """Token ids of a piece of assistant text (no BOS/EOS)."""
    return load_tokenizer().instruct_tokenizer.tokenizer.encode(text, bos=False, eos=False)


def count_text(text: str) -> int:
    return len(encode_text(text))


def count_prompt(request: ChatCompletionRequest, extra_texts: Sequence[str] = ()) -> int:
    """Tokens of a (validated) chat request as the model would see it.

    The request was validated by the serving rules already, so the tokenizer's own
    (test-mode, v3) validator is skipped. ``extra_texts`` are counted on top: content the
    v3 template drops (text beside tool calls in an assistant message).
    """
    tokenizer = load_tokenizer()
    try:
        instruct = tokenizer._instruct_request_normalizer.from_chat_completion_request(request)
        count = len(tokenizer.instruct_tokenizer.encode_instruct(instruct).tokens)
    except (MistralCommonException, AssertionError, ValueError):
        # A shape the v3 template cannot lay out: count its JSON, a fair upper bound.
        count = count_text(request.model_dump_json(exclude_none=True))
    return count + sum(count_text(text) for text in extra_texts)


LONG_TEXT = 1_000_000
"""Characters of prompt text past which the prompt is counted in slices (:func:`count_long`)."""

_SLICE = 262_144  # characters per slice: the tokenizer holds the GIL briefly for each
_MESSAGE_OVERHEAD = 8  # control tokens around a message, a fair allowance


def count_long(texts: Sequence[str], limit: int) -> int:
    """Tokens of a huge prompt's texts, counted in slices, stopping early when in excess.

    A slice boundary may split a token, so the count can be off by a token per slice; and
    once the count passed twice ``limit``, the rest is extrapolated from the rate so far
    (the answer, "too large", is then certain). So the tokenizer never holds the GIL long
    and a 50 MB message costs a fraction of a second, not a dozen.
    """
    total_chars = sum(map(len, texts))
    counted = chars = 0
    for text in texts:
        for start in range(0, len(text), _SLICE):
            piece = text[start : start + _SLICE]
            counted += count_text(piece)
            chars += len(piece)
            if counted > 2 * limit:
                return round(counted * total_chars / chars) + _MESSAGE_OVERHEAD * len(texts)
    return counted + _MESSAGE_OVERHEAD * len(texts)


def stream_pieces(ids: Sequence[int]) -> list[str]:
    """One text piece per token, byte tokens regrouped into whole UTF-8 characters.

    A character split over several byte tokens comes out with its last byte; bytes left
    incomplete at the end (a reply cut by max_tokens) are dropped rather than shown as
    U+FFFD.
    """
    raw: Any = load_tokenizer().instruct_tokenizer.tokenizer  # a Tekkenizer: has byte pieces
    decoder = codecs.getincrementaldecoder("utf-8")(errors="strict")
    pieces: list[str] = []
    for token in ids:
        try:
            text = decoder.decode(raw.id_to_byte_piece(token))
        except UnicodeDecodeError:
            decoder.reset()
            continue
        if text:
            pieces.append(text)
    return pieces


def fit_to_tokens(text: str, filler: str, n_tokens: int) -> list[int]:
    """Token ids of ``text`` extended with ``filler`` (repeated) or cut, to exactly n_tokens."""
    ids = encode_text(text)
    if len(ids) >= n_tokens:
        return ids[:n_tokens]
    filler_ids = encode_text(filler) or encode_text(" ")
    while len(ids) < n_tokens:
        ids.extend(filler_ids)
    return ids[:n_tokens]


def decode(ids: Sequence[int]) -> str:
    return "".join(stream_pieces(ids))
