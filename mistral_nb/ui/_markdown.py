"""Replies as Markdown: code blocks with a copy button, tables, lists; raw HTML escaped.

A reply is the model's text, so it is untrusted: mistune runs with ``escape=True`` (any
HTML in the reply shows as text) and its own URL check (``javascript:`` links become
``#harmful-link``).  A reply still streaming is rendered as it stands: an unclosed code
fence is a code block up to the end, which is what the finished reply will show too.
"""

from __future__ import annotations

import html
from typing import Any

import mistune

__all__ = ["render_markdown"]


class _Renderer(mistune.HTMLRenderer):  # type: ignore[misc]
    def block_code(self, code: str, info: str | None = None) -> str:
        lang = (info or "").strip().split(None, 1)[0] if info and info.strip() else ""
        label = f"<span>{html.escape(lang)}</span>" if lang else "<span></span>"
        css = f" class='language-{html.escape(lang, quote=True)}'" if lang else ""
        return (
            "<div class='mnb-code'><div class='mnb-code-bar'>"
            f"{label}<button class='mnb-copy' title='copy this code'>copy</button></div>"
            f"<pre><code{css}>{html.escape(code, quote=False)}</code></pre></div>\n"
        )

    def table(self, text: str) -> str:
        return f"<div class='mnb-table'><table>{text}</table></div>\n"

    def link(self, text: str, url: str, title: str | None = None) -> str:
        # A link must not replace the notebook it is clicked in.
        # safe_url escapes " but not ': the attribute is double-quoted.
        attrs = f' title="{html.escape(title, quote=True)}"' if title else ""
        return (
            f'<a href="{self.safe_url(url)}"{attrs} target="_blank" '
            f'rel="noopener noreferrer">{text}</a>'
        )


_MARKDOWN: Any = mistune.create_markdown(
    escape=True,
    renderer=_Renderer(escape=True),
    plugins=["table", "strikethrough", "url"],
)


def render_markdown(text: str) -> str:
    """``text`` (Markdown, untrusted) as HTML for the transcript."""
    if not text:
        return ""
    return str(_MARKDOWN(text))
