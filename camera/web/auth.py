"""Who is asking: a session cookie (browsers, with a CSRF token on every change) or an API token (scripts).

Every route that reads faces or changes anything depends on :func:`reader`
or :func:`changer`; only the login, the OpenAPI document and the API
reference (which hold no data) are open. A session cookie is HttpOnly,
SameSite=Strict, and Secure with ``[web] secure_cookies``; a change made
with it must carry the session's CSRF token in ``X-CSRF-Token``. A request
with an ``Authorization: Bearer`` header is judged by its token alone (no
cookie, no CSRF needed: a browser never sends it on its own).
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from fastapi import HTTPException, Request

from camera.web.accounts import Accounts

SESSION_COOKIE = "facecam_session"
CSRF_HEADER = "X-CSRF-Token"


@dataclass(frozen=True)
class Principal:
    """A user, how they proved it (``session`` or ``token``) and, for sessions, their CSRF token."""

    user: str
    via: str
    csrf: str | None = None


def principal(request: Request) -> Principal | None:
    """The caller, or ``None``. A request that sends a token is never judged by its cookie."""
    accounts: Accounts = request.app.state.ctx.accounts
    auth = request.headers.get("authorization")
    if auth is not None:
        scheme, _, secret = auth.partition(" ")
        user = accounts.token_user(secret.strip()) if scheme.lower() == "bearer" else None
        return Principal(user, "token") if user else None
    session = accounts.session(request.cookies.get(SESSION_COOKIE, ""))
    return Principal(session.user, "session", session.csrf) if session else None


def reader(request: Request) -> Principal:
    """A dependency: the caller may read (401 otherwise)."""
    p = principal(request)
    if p is None:
        raise HTTPException(401, "log in, or send an API token (Authorization: Bearer ...)",
                            headers={"WWW-Authenticate": "Bearer"})
    return p


def changer(request: Request) -> Principal:
    """A dependency: the caller may change things (401 without credentials, 403 without the session's CSRF token)."""
    p = reader(request)
    if p.via == "session" and not hmac.compare_digest(request.headers.get(CSRF_HEADER, ""), p.csrf or ""):
        raise HTTPException(403, f"missing or wrong {CSRF_HEADER} header (reload the page)")
    return p
