"""The one place secrets are hidden (and control characters escaped) before anything is printed, logged,
stored or shown.

:func:`redact_url` hides a URL's password (also one that itself holds ``@``
or ``/``: ``rtsp://admin:p@ss/w0rd@cam/stream``), the values of query
parameters that look secret (``?password=``, ``token``, ``key`` ...) and
Home Assistant webhook ids (``/api/webhook/ID``). :func:`redact_text` does
that to every URL inside a message; :func:`redact_config` to a whole
configuration dump (camera sources, webhook URLs, header values).
:func:`one_line` escapes control characters (a name holding a newline or a
terminal escape must not forge a log line or recolour a terminal), and
:class:`LogFilter` applies both to every log record.
"""

from __future__ import annotations

import logging
import re
from typing import Any
from urllib.parse import parse_qsl, quote

MASK = "***"
#: query parameter names whose values are secrets
SECRET_PARAM = re.compile(r"(pass(word|wd)?|pwd|secret|token|api[-_]?key|key|auth|signature|sig|session|"
                          r"access[-_]?token|credential)s?$", re.IGNORECASE)
#: a URL inside a message: it does not end with the punctuation that follows it in a sentence
_URL = re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s\"'<>]*[^\s\"'<>:.,;)\]]")
_WEBHOOK = re.compile(r"(/api/webhook/)[^/?#]+")


def redact_url(url: str) -> str:
    """``url`` with its password, secret query values and webhook id replaced by ``***``."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    if "@" in rest:  # the userinfo ends at the last "@": a password may hold "@" or "/"
        userinfo, _, host = rest.rpartition("@")
        user, colon, _password = userinfo.partition(":")
        rest = f"{user}:{MASK}@{host}" if colon else f"{userinfo}@{host}"
    base, qmark, query = rest.partition("?")
    base = _WEBHOOK.sub(rf"\g<1>{MASK}", base)
    if qmark:
        query, hash_, fragment = query.partition("#")
        pairs = parse_qsl(query, keep_blank_values=True)
        query = "&".join(f"{quote(k, safe='')}={MASK if SECRET_PARAM.match(k) else quote(v, safe='')}"
                         for k, v in pairs) + hash_ + fragment
    return f"{scheme}://{base}{qmark}{query}"


def redact_text(text: str) -> str:
    """``text`` with every URL in it passed through :func:`redact_url`."""
    return _URL.sub(lambda m: redact_url(m.group(0)), text)


def redact_config(data: Any) -> Any:
    """A JSON-like configuration dump with secrets hidden: every string through :func:`redact_text`, and the
    values of ``headers`` tables (they carry ``Authorization`` and API keys) replaced by ``***``."""
    if isinstance(data, dict):
        return {k: ({h: MASK for h in v} if k == "headers" and isinstance(v, dict) else redact_config(v))
                for k, v in data.items()}
    if isinstance(data, list | tuple):
        return [redact_config(v) for v in data]
    if isinstance(data, str):
        return redact_text(data)
    return data


def one_line(text: str) -> str:
    """``text`` with control characters (newlines, escapes, DEL) written as ``\\n``, ``\\x1b``, ...; tabs kept."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() or c == "\t" else repr(c)[1:-1] for c in text)


class LogFilter(logging.Filter):
    """Every log message through :func:`redact_text` and :func:`one_line` (tracebacks are left as they are)."""

    def filter(self, record: logging.LogRecord) -> bool:
        msg = one_line(redact_text(record.getMessage()))
        record.msg, record.args = msg, None
        return True
