"""``{{ event.details|details_list }}``: an audit event's details as a readable key: value list."""

from __future__ import annotations

from typing import Any

from django import template
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

register = template.Library()


def _text(value: Any) -> str:
    """One value in words: nested mappings as ``key: value; ...``, lists comma-separated."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dict):
        return "; ".join(f"{_label(k)}: {_text(v)}" for k, v in value.items())
    if isinstance(value, list | tuple):
        return ", ".join(_text(v) for v in value) if value else "none"
    return str(value)


def _label(key: Any) -> str:
    return str(key).replace("_", " ")


@register.filter
def details_list(details: Any) -> SafeString | str:
    """Every key and value escaped; an empty or missing mapping renders as nothing."""
    if not details:
        return ""
    if not isinstance(details, dict):
        return _text(details)  # autoescaped by the template
    return format_html(
        '<ul class="details">{}</ul>',
        format_html_join(
            "",
            '<li><span class="muted">{}</span>: {}</li>',
            ((_label(k), _text(v)) for k, v in details.items()),
        ),
    )
