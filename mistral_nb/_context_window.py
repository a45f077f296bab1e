"""Warn before a conversation outgrows the model's context window.

Mistral answers 400 once the prompt plus ``max_tokens`` exceeds the model's
context length, and by then the turn is lost.  The session checks before each
request: the last request's usage (Mistral's own count of the conversation so
far) plus the new message, counted with mistral-common's tokenizer when the
estimate comes close.  The context length comes from ``GET /v1/models/{id}``
(real Mistral and LocalMistral both answer it), else from LocalMistral's
catalogue of known models.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._errors import MessageTooLargeError, MistralNBWarning

if TYPE_CHECKING:
    import openai

__all__ = [
    "WARN_FRACTION",
    "ContextWindow",
    "ContextWindowWarning",
    "context_warning",
    "known_context_length",
]

#: Warn once the next request would fill this share of the context window.
WARN_FRACTION = 0.9


class ContextWindowWarning(MistralNBWarning):
    """The conversation is close to (or past) the model's context length."""


def known_context_length(model: str) -> int | None:
    """The context length LocalMistral's catalogue knows for ``model``, if any."""
    from .local import model_card

    card = model_card(model)
    length = card.get("max_context_length") if card else None
    return length if isinstance(length, int) else None


def _count_tokens(text: str) -> int:
    from .local._tokens import count_text

    return count_text(text)


def context_warning(
    *,
    model: str,
    context_length: int | None,
    conversation_tokens: int,
    new_text: str,
    image_tokens: int,
    max_tokens: int | None,
) -> str | None:
    """A warning for the user, or None when the next request fits comfortably.

    Args:
        conversation_tokens: Tokens of the conversation so far (the last request's
            prompt plus its reply, as Mistral counted them).
        new_text: The message about to be sent.
        image_tokens: Estimated tokens of the images about to be sent.
        max_tokens: The reply limit in force (counted against the window too).
    """
    if not context_length:
        return None
    limit = WARN_FRACTION * context_length
    reply = max_tokens or 0
    # ~1 token per 3 characters is an overestimate for text; count exactly only when
    # the cheap estimate says it may matter.
    new_tokens = len(new_text) // 3 + 1
    if conversation_tokens + new_tokens + image_tokens + reply < limit:
        return None
    new_tokens = _count_tokens(new_text)
    if new_tokens + image_tokens + reply >= context_length:
        # Sent, it would be refused, and then every later request carrying it too.
        raise MessageTooLargeError(
            f"this message is about {new_tokens + image_tokens:,} tokens"
            + (f" (plus max_tokens={reply})" if reply else "")
            + f" and {model}'s context window is {context_length:,}: it cannot fit, so it "
            "was not sent. Shorten it, send a summary, or split it over several turns."
        )
    total = conversation_tokens + new_tokens + image_tokens + reply
    if total < limit:
        return None
    share = total / context_length
    verdict = "will be rejected" if total > context_length else "may soon be rejected"
    reply_note = f", plus max_tokens={reply}" if reply else ""
    return (
        f"the next request needs about {total:,} tokens{reply_note}: {share:.0%} of {model}'s "
        f"{context_length:,}-token context window, so it {verdict} (400). Start over with "
        "session.reset(), or use a model with a longer context."
    )


class ContextWindow:
    """How full a session's conversation is, against each model's context length.

    Args:
        client: The OpenAI-compatible client, to ask ``/v1/models/{id}`` once per model.
    """

    def __init__(self, client: openai.AsyncOpenAI) -> None:
        self._client = client
        self._lengths: dict[str, int | None] = {}
        self.conversation_tokens = 0

    async def check(
        self, *, model: str, new_text: str, image_tokens: int, max_tokens: int | None
    ) -> str | None:
        """A warning for the user about the next request, or None when it fits."""
        if model not in self._lengths:
            self._lengths[model] = await self._fetch_length(model)
        return context_warning(
            model=model,
            context_length=self._lengths[model],
            conversation_tokens=self.conversation_tokens,
            new_text=new_text,
            image_tokens=image_tokens,
            max_tokens=max_tokens,
        )

    def turn_ended(self, prompt_tokens: int | None, completion_tokens: int | None) -> None:
        """Take Mistral's count of the conversation from the turn's last request."""
        if prompt_tokens is not None:
            self.conversation_tokens = prompt_tokens + (completion_tokens or 0)

    async def _fetch_length(self, model: str) -> int | None:
        import openai  # loaded with the first session, not with the package

        try:
            card = await self._client.models.retrieve(model, timeout=5)
            length = getattr(card, "max_context_length", None)
            if isinstance(length, int) and length > 0:
                return length
        except openai.APIError:  # an endpoint without /models: fall back to what we know
            pass
        return known_context_length(model)
