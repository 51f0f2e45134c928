"""The pages: server-rendered HTML (Jinja2, autoescaped: names are always text) enhanced by small scripts.

Every page needs a session; without one it answers 401 with the login form
(``/login`` is the only open page). Pages read through the service layer
(:class:`camera.service.Service`); every action on a page is a call to the
REST API (``/api/v1``) with the session's CSRF token, which the page carries
in ``<meta name="csrf-token">``. Times are shown in the server's local time
zone (the household's); the events page's date range is read in it too.
Query parameters are taken as text and checked here, so a bad one shows a
message on the page instead of a JSON error.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from camera.errors import FacecamError
from camera.events.store import EVENT_ID, EventQuery
from camera.types import UNKNOWN
from camera.web.api import cameras as api_cameras
from camera.web.auth import Principal, principal

TEMPLATES = Jinja2Templates(directory=Path(__file__).with_name("templates"))  # autoescapes .html
#: visits per page of the events page (the API's own limits)
PAGE_SIZES = (25, 50, 100, 200)
#: latest visits on the home page and on a person's page
LATEST = 12

router = APIRouter(tags=["pages"])


# ----- the pages ------------------------------------------------------------------------------------------------


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, next: str = "/") -> HTMLResponse:  # noqa: A002 - the query parameter's name
    """The login form (open: it shows no data)."""
    return TEMPLATES.TemplateResponse(request, "login.html", {"title": "Log in", "next": _local_path(next)})


@router.get("/", response_class=HTMLResponse)
def home(request: Request) -> HTMLResponse:
    """Who is home, the latest visits, alerts waiting per sink, cameras that are down."""
    p = _session(request)
    if p is None:
        return _login(request)
    svc = _ctx(request).service
    st = svc.status()
    return _render(request, p, "home.html", "Home", status=st, cameras=api_cameras(p, request),
                   presence=svc.presence(), latest=svc.query_events(EventQuery(limit=LATEST)))


@router.get("/live", response_class=HTMLResponse)
def live_page(request: Request) -> HTMLResponse:
    """Each camera's current frame with the faces on it, refreshed at ``[web] live_fps``."""
    p = _session(request)
    if p is None:
        return _login(request)
    ctx = _ctx(request)
    return _render(request, p, "live.html", "Live", cameras=ctx.service.cameras(), has_live=ctx.live is not None,
                   fps=ctx.cfg.live_fps)


@router.get("/events", response_class=HTMLResponse)
def events_page(request: Request, person: str = "", camera: str = "", unknown: str = "", since: str = "",
                until: str = "", before: str = "", limit: str = "50") -> HTMLResponse:
    """The visit timeline, newest first: filters (person, camera, unknown only, dates) and pages by cursor."""
    p = _session(request)
    if p is None:
        return _login(request)
    svc = _ctx(request).service
    form = {"person": person.strip(), "camera": camera.strip(), "unknown": unknown, "since": since, "until": until,
            "limit": limit}
    problems: list[str] = []
    size = int(limit) if limit.isdigit() and int(limit) in PAGE_SIZES else 50
    start, end = _day(since, "from", problems), _day(until, "until", problems)
    end = end + dt.timedelta(days=1) if end is not None else None  # "until" includes that whole day
    cursor = _cursor(before, problems)
    rows, nxt = [], None
    keep = {k: v for k, v in form.items() if v}
    if not problems:
        rows = svc.query_events(EventQuery(form["person"] or None, form["camera"] or None, bool(unknown), start, end,
                                           cursor, size))
        if len(rows) == size:
            nxt = "/events?" + urlencode({**keep, "before": f"{rows[-1].start.isoformat()}~{rows[-1].id}"})
    return _render(request, p, "events.html", "Events", rows=rows, form=form, problems=problems, next_page=nxt,
                   first_page=("/events?" + urlencode(keep)) if before else None,
                   people=[x.name for x in svc.people()], cameras=svc.cameras(), page_sizes=PAGE_SIZES, size=size)


@router.get("/events/{event_id}", response_class=HTMLResponse)
def event_page(request: Request, event_id: str) -> HTMLResponse:
    """One visit: its pictures, faces and decision, and the answers (this is NAME, not NAME, dismiss)."""
    p = _session(request)
    if p is None:
        return _login(request)
    svc = _ctx(request).service
    if not EVENT_ID.fullmatch(event_id):
        return _missing(request, p, f"{event_id!r} is not an event id")
    try:
        e = svc.event(event_id)
        faces = svc.event_faces(e.id)
    except FacecamError as exc:
        return _missing(request, p, str(exc))
    return _render(request, p, "event.html", f"Visit of {e.person}", e=e, faces=faces,
                   people=[x.name for x in svc.people()])


@router.get("/review", response_class=HTMLResponse)
def review_page(request: Request) -> HTMLResponse:
    """Unknown visits grouped by likeness, to name, deny or dismiss a group (or some of its visits) at once."""
    p = _session(request)
    if p is None:
        return _login(request)
    svc = _ctx(request).service
    return _render(request, p, "review.html", "Review", groups=svc.review_groups(),
                   people=[x.name for x in svc.people()])


@router.get("/people", response_class=HTMLResponse)
def people_page(request: Request) -> HTMLResponse:
    """The face library: everyone enrolled with photo count, last seen and home; a form for a new person."""
    p = _session(request)
    if p is None:
        return _login(request)
    svc = _ctx(request).service
    home = {x.person: x.home for x in svc.presence()}
    return _render(request, p, "people.html", "People", people=svc.people(), last=svc.last_seen(), home=home)


@router.get("/people/{person_id}", response_class=HTMLResponse)
def person_page(request: Request, person_id: str) -> HTMLResponse:
    """One person: enrolled photos (quality, remove), upload more, rename, remove, latest visits."""
    p = _session(request)
    if p is None:
        return _login(request)
    svc = _ctx(request).service
    try:
        x = svc.person(int(person_id)) if person_id.isdigit() else None
    except FacecamError:
        x = None
    if x is None:
        return _missing(request, p, f"no person with id {person_id!r}")
    return _render(request, p, "person.html", x.name, person=x, photos=svc.photos(x.name),
                   visits=svc.query_events(EventQuery(person=x.name, limit=LATEST)))


@router.get("/settings", response_class=HTMLResponse)
def settings_page(request: Request) -> HTMLResponse:
    """The effective configuration (read-only, secrets hidden), the threshold in use and calibrate's advice."""
    p = _session(request)
    if p is None:
        return _login(request)
    ctx = _ctx(request)
    svc = ctx.service
    default = svc.default_max_distance()
    per_camera = {n: svc.cfg.max_distance_for(n, default) for n in svc.cfg.cameras}
    sections = [(key, _flatten(value)) for key, value in svc.settings().items() if isinstance(value, dict)]
    top = [(key, _show(value)) for key, value in svc.settings().items() if not isinstance(value, dict)]
    return _render(request, p, "settings.html", "Settings", threshold=svc.cfg.max_distance_for("", default),
                   model_default=default, per_camera=per_camera, sections=sections, top=top,
                   config_file=str(ctx.config_path) if ctx.config_path else None)


# ----- helpers --------------------------------------------------------------------------------------------------


def _ctx(request: Request):  # noqa: ANN202 - WebContext (app.py imports this module)
    return request.app.state.ctx


def _session(request: Request) -> Principal | None:
    """The logged-in browser, or ``None`` (an API token does not open pages: they need the CSRF token)."""
    p = principal(request)
    return p if p is not None and p.via == "session" else None


def _login(request: Request) -> HTMLResponse:
    """The login form, 401, coming back to this page after logging in."""
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return TEMPLATES.TemplateResponse(request, "login.html", {"title": "Log in", "next": _local_path(target)},
                                      status_code=401)


def _render(request: Request, p: Principal, template: str, title: str, status_code: int = 200,
            **values: object) -> HTMLResponse:
    return TEMPLATES.TemplateResponse(request, template, {"title": title, "user": p.user, "csrf": p.csrf,
                                                           "path": request.url.path, **values},
                                      status_code=status_code)


def _missing(request: Request, p: Principal, message: str) -> HTMLResponse:
    return _render(request, p, "missing.html", "Not found", status_code=404, message=message)


def _local_path(target: str) -> str:
    """``target`` if it is a path on this server, else ``/`` (no open redirect through ``?next=``).

    Browsers drop tabs and newlines inside a URL and read ``\\`` as ``/``, so ``/\\t/evil.test`` would be
    ``//evil.test``: a target with any of them, or any other control character or space, is refused too."""
    if not target.startswith("/") or target.startswith("//") or any(c == "\\" or c <= " " or c == "\x7f" for c in target):
        return "/"
    return target


def _day(text: str, what: str, problems: list[str]) -> dt.datetime | None:
    """The local midnight starting day ``text`` (YYYY-MM-DD), or ``None`` when empty (a bad one: a problem)."""
    if not text.strip():
        return None
    try:
        return dt.datetime.combine(dt.date.fromisoformat(text.strip()), dt.time()).astimezone()
    except ValueError:
        problems.append(f"{what} {text!r}: expected a date like 2024-05-31")
        return None


def _cursor(text: str, problems: list[str]) -> tuple[dt.datetime, str] | None:
    """The API's ``next`` cursor (``START~ID``), or ``None``."""
    if not text:
        return None
    when, _, event_id = text.partition("~")
    try:
        return dt.datetime.fromisoformat(when), event_id
    except ValueError:
        problems.append(f"before={text!r}: not a page of this list; start again from the newest")
        return None


def _flatten(value: object, prefix: str = "") -> list[tuple[str, str]]:
    """A config section as ``(dotted key, value as text)`` rows."""
    if isinstance(value, dict) and value:
        rows: list[tuple[str, str]] = []
        for key, sub in value.items():
            rows += _flatten(sub, f"{prefix}.{key}" if prefix else str(key))
        return rows
    return [(prefix or "(empty)", _show(value))]


def _show(value: object) -> str:
    if value is None:
        return "not set"
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def _local(t: dt.datetime | str | None) -> str:
    """A time as the household reads it: the server's local time, to the second."""
    if t is None or t == "":
        return ""
    when = dt.datetime.fromisoformat(t) if isinstance(t, str) else t
    when = when if when.tzinfo else when.replace(tzinfo=dt.UTC)
    return when.astimezone().strftime("%Y-%m-%d %H:%M:%S")


def _ago(t: dt.datetime | None) -> str:
    """How long ago ``t`` was, roughly (``3 min ago``)."""
    if t is None:
        return ""
    s = (dt.datetime.now(dt.UTC) - (t if t.tzinfo else t.replace(tzinfo=dt.UTC))).total_seconds()
    for unit, size in (("day", 86400), ("h", 3600), ("min", 60)):
        if s >= size:
            n = int(s // size)
            return f"{n} {unit}{'s' if unit == 'day' and n > 1 else ''} ago"
    return "just now"


def _num(x: float | None, digits: int = 3) -> str:
    return "–" if x is None else f"{x:.{digits}f}"


TEMPLATES.env.filters.update(local=_local, ago=_ago, num=_num)
TEMPLATES.env.globals.update(UNKNOWN=UNKNOWN)
