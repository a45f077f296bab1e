"""The panels' stylesheet: one ``<style>`` block, scoped to ``mnb-`` classes.

Colours come from JupyterLab's theme variables (Voilà and Notebook 7 define them too),
with light fallbacks elsewhere, so the panels follow the light and dark themes.  Each
panel carries the block in an ``HTML`` widget of its own (:func:`stylesheet`), so a panel
shown alone is styled too; the browser applies identical rules once.
"""

from __future__ import annotations

from ipywidgets import HTML, Layout

__all__ = ["CSS", "stylesheet"]

_FG = "var(--jp-ui-font-color1, #1f1f1f)"
_FG2 = "var(--jp-ui-font-color2, #616161)"
_BG2 = "var(--jp-layout-color2, #eeeeee)"
_BORDER = "var(--jp-border-color2, #e0e0e0)"
_CODE_BG = "var(--jp-cell-editor-background, #f5f5f5)"
_ACCENT = "var(--jp-brand-color1, #1976d2)"
_ERROR = "var(--jp-error-color1, #d32f2f)"
_WARN = "var(--jp-warn-color1, #f57c00)"
_OK = "var(--jp-success-color1, #388e3c)"

CSS = f"""
.mnb-transcript {{ color: {_FG}; font-size: var(--jp-content-font-size1, 14px); }}
.mnb-turn {{ margin: 0 0 12px 0; }}
.mnb-user {{ background: {_BG2}; border-radius: 6px; padding: 4px 10px; margin-bottom: 6px;
  white-space: pre-wrap; line-height: 1.4; }}
.mnb-who {{ font-weight: 600; margin-right: 6px; }}
.mnb-quiet {{ color: {_FG2}; font-size: 0.85em; }}
.mnb-reply {{ padding: 0 10px; line-height: 1.45; }}
.mnb-md p {{ margin: 0.35em 0; }}
.mnb-md ul, .mnb-md ol {{ margin: 0.35em 0; padding-left: 1.6em; }}
.mnb-md li {{ margin: 0.1em 0; }}
.mnb-md h1, .mnb-md h2, .mnb-md h3, .mnb-md h4 {{ margin: 0.6em 0 0.3em; line-height: 1.25; }}
.mnb-md h1 {{ font-size: 1.3em; }} .mnb-md h2 {{ font-size: 1.2em; }}
.mnb-md h3, .mnb-md h4 {{ font-size: 1.05em; }}
.mnb-md code {{ background: {_CODE_BG}; border-radius: 3px; padding: 0 3px;
  font-family: var(--jp-code-font-family, monospace); font-size: 0.92em; }}
.mnb-md blockquote {{ border-left: 3px solid {_BORDER}; margin: 0.4em 0; padding-left: 8px;
  color: {_FG2}; }}
.mnb-md .mnb-table {{ overflow-x: auto; }}
.mnb-md table {{ border-collapse: collapse; margin: 0.4em 0; }}
.mnb-md th, .mnb-md td {{ border: 1px solid {_BORDER}; padding: 3px 8px; text-align: left; }}
.mnb-code {{ position: relative; margin: 0.4em 0; }}
.mnb-code pre {{ background: {_CODE_BG}; border: 1px solid {_BORDER}; border-radius: 4px;
  padding: 8px 10px; margin: 0; overflow-x: auto; line-height: 1.35; }}
.mnb-code pre code {{ background: none; padding: 0; }}
.mnb-code-bar {{ display: flex; justify-content: space-between; align-items: center;
  font-size: 0.8em; color: {_FG2}; padding: 0 2px 2px; }}
button.mnb-copy-button, button.mnb-pick {{ width: auto; padding: 0 12px; }}
button.mnb-copy {{ font-size: 0.8em; padding: 0 8px; height: 20px; line-height: 18px;
  cursor: pointer; border: 1px solid {_BORDER}; border-radius: 3px; background: none;
  color: {_FG2}; }}
details.mnb-thinking {{ color: {_FG2}; border-left: 3px solid {_BORDER}; padding-left: 8px;
  margin: 2px 0 6px; }}
details.mnb-thinking summary {{ cursor: pointer; font-size: 0.9em; }}
details.mnb-thinking .mnb-thinking-text {{ white-space: pre-wrap; font-size: 0.9em; }}
.mnb-call {{ border: 1px solid {_BORDER}; border-radius: 6px; padding: 4px 8px;
  margin: 4px 0; font-size: 0.88em; max-width: 100%; overflow: hidden; }}
.mnb-call-head {{ display: flex; gap: 8px; align-items: baseline; flex-wrap: wrap; }}
.mnb-call-name {{ font-family: var(--jp-code-font-family, monospace); font-weight: 600; }}
.mnb-call-body {{ font-family: var(--jp-code-font-family, monospace); color: {_FG2};
  white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }}
.mnb-st-ok {{ color: {_OK}; }} .mnb-st-running {{ color: {_ACCENT}; }}
.mnb-st-error, .mnb-st-timeout {{ color: {_ERROR}; }}
.mnb-st-rejected, .mnb-st-cancelled {{ color: {_WARN}; }}
.mnb-marker {{ margin: 6px 0 2px; padding: 3px 8px; border-radius: 4px; font-size: 0.9em;
  border-left: 3px solid {_WARN}; background: {_BG2}; }}
.mnb-marker.mnb-error, .mnb-marker.mnb-timeout {{ border-left-color: {_ERROR}; }}
.mnb-marker.mnb-retry {{ border-left-color: {_ACCENT}; }}
.mnb-footer {{ color: {_FG2}; font-size: 0.8em; margin-top: 4px; }}
.mnb-replaced {{ opacity: 0.55; }}
.mnb-cursor {{ color: {_FG2}; }}
.mnb-message-box {{ width: 100%; }}
textarea.mnb-message {{ width: 100%; box-sizing: border-box; resize: vertical;
  font-family: inherit; font-size: var(--jp-content-font-size1, 14px); padding: 6px 8px;
  color: {_FG}; background: var(--jp-layout-color1, white); border: 1px solid {_BORDER};
  border-radius: 4px; }}
.mnb-grid {{ width: 100%; border-collapse: collapse; table-layout: fixed;
  font-size: 0.85em; color: {_FG}; }}
.mnb-grid th {{ text-align: left; font-weight: 600; border-bottom: 1px solid {_BORDER};
  padding: 3px 6px; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }}
.mnb-grid td {{ padding: 3px 6px; border-bottom: 1px solid {_BORDER}; white-space: nowrap;
  overflow: hidden; text-overflow: ellipsis; vertical-align: top; }}
.mnb-grid td.mnb-num, .mnb-grid th.mnb-num {{ text-align: right;
  font-variant-numeric: tabular-nums; }}
.mnb-fit {{ container-type: inline-size; width: 100%; }}
@container (max-width: 900px) {{ .mnb-grid .mnb-wide {{ display: none; }} }}
@container (max-width: 640px) {{ .mnb-grid .mnb-narrow {{ display: none; }} }}
.mnb-label {{ font-size: var(--jp-widgets-font-size, 13px); color: {_FG}; }}
.mnb-hint {{ color: {_FG2}; font-size: 0.85em; }}
.mnb-files code {{ font-size: 0.85em; word-break: break-all; }}
"""


def stylesheet() -> HTML:
    """A zero-size ``HTML`` widget holding the panels' stylesheet."""
    return HTML(f"<style>{CSS}</style>", layout=Layout(height="0px", margin="0"))
