"""The REST API, ``/api/v1``: events, review groups, people and photos, presence, cameras, status, settings.

Every route but ``POST /login`` depends on :func:`~camera.web.auth.reader`
or, for changes, :func:`~camera.web.auth.changer`; each calls the service
layer (:class:`camera.service.Service`), the same code the ``facecam``
command runs. Names are data: they travel in JSON bodies and query strings,
never in paths (a name may hold ``/``); people and photos are addressed by id.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import mimetypes
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, HTTPException, Query, Request, Response, UploadFile
from fastapi.responses import FileResponse, JSONResponse, StreamingResponse
from pydantic import BaseModel, Field

from camera.evaluation.gallery_calibrate import rounded, set_max_distance
from camera.events.store import EVENT_ID, Event, EventQuery
from camera.gallery.enroll import EnrolOutcome
from camera.imageio import IMAGE_SUFFIXES
from camera.types import UNKNOWN
from camera.web.auth import SESSION_COOKIE, Principal, changer, reader
from camera.web.live import LiveFrame, LiveView

router = APIRouter()
Reader = Annotated[Principal, Depends(reader)]
Changer = Annotated[Principal, Depends(changer)]
#: upload content types accepted (the bytes are then decoded by the same strict loader as `facecam enroll`)
IMAGE_TYPES = {"image/jpeg", "image/png", "image/webp", "image/bmp", "image/x-portable-graymap", "image/tiff"}
#: the part separator of the MJPEG live stream
MJPEG_BOUNDARY = "facecam-frame"


def _ctx(request: Request):  # noqa: ANN202 - WebContext (imported by app.py, which imports this module)
    return request.app.state.ctx


# ----- payloads -------------------------------------------------------------------------------------------------


class Login(BaseModel):
    user: str = Field(..., max_length=64)
    password: str = Field(..., max_length=1024)


class NameBody(BaseModel):
    name: str = Field(..., max_length=200, description="a person's name, exactly as it should be stored")


class EventsBody(BaseModel):
    events: list[str] = Field(..., min_length=1, max_length=500, description="event ids")


class GroupLabel(EventsBody):
    name: str = Field(..., max_length=200)


class Threshold(BaseModel):
    max_distance: float = Field(..., gt=0, le=2, description="name a face only at or below this distance")


def event_json(e: Event) -> dict[str, object]:
    """An event as the API shows it (pictures as API paths)."""
    base = f"/api/v1/events/{e.id}"
    return {"id": e.id, "camera": e.camera, "person": e.person, "known": e.person != UNKNOWN,
            "start": e.start.isoformat(), "end": e.end.isoformat(), "duration_s": round((e.end - e.start).total_seconds(), 1),
            "distance": e.distance, "quality": e.quality, "votes": e.votes, "margin": e.margin, "nearest": e.nearest,
            "reviewed": e.reviewed, "snapshot": f"{base}/snapshot.jpg" if e.snapshot else None,
            "crop": f"{base}/crop.jpg" if e.crop else None}


def outcome_json(o: EnrolOutcome) -> dict[str, object]:
    return {"photo": o.path.name, "person": o.person, "status": o.status.value, "reason": o.reason}


# ----- session --------------------------------------------------------------------------------------------------


@router.post("/login", tags=["session"])
def login(body: Login, request: Request, response: Response) -> dict[str, str]:
    """Log in with an account's password: sets the session cookie; returns the CSRF token for changes."""
    ctx = _ctx(request)
    client = request.client.host if request.client else "?"
    wait = ctx.limiter.wait_s(f"ip:{client}", f"user:{body.user}")
    if wait > 0:
        raise HTTPException(429, f"too many failed logins; try again in {wait:.0f} s",
                            headers={"Retry-After": str(int(wait) + 1)})
    if not ctx.accounts.verify(body.user, body.password):
        ctx.limiter.failed(f"ip:{client}", f"user:{body.user}")
        raise HTTPException(401, "wrong account name or password")
    ctx.limiter.succeeded(f"ip:{client}", f"user:{body.user}")
    sid, session = ctx.accounts.create_session(body.user)
    response.set_cookie(SESSION_COOKIE, sid, max_age=int(session.expires - dt.datetime.now().timestamp()),
                        httponly=True, samesite="strict", secure=ctx.cfg.secure_cookies, path="/")
    return {"user": session.user, "csrf": session.csrf}


@router.post("/logout", tags=["session"])
def logout(p: Changer, request: Request, response: Response) -> dict[str, bool]:
    """End this browser's session."""
    if p.via == "session":
        _ctx(request).accounts.end_session(request.cookies.get(SESSION_COOKIE, ""))
    response.delete_cookie(SESSION_COOKIE, path="/")
    return {"ok": True}


@router.get("/me", tags=["session"])
def me(p: Reader) -> dict[str, str | None]:
    """Who is asking (and, for a session, the CSRF token to send with changes)."""
    return {"user": p.user, "via": p.via, "csrf": p.csrf}


# ----- status, cameras, live view -------------------------------------------------------------------------------


@router.get("/status", tags=["status"])
def status(p: Reader, request: Request) -> dict[str, object]:
    """The daemon (running or not), each camera's counters and each sink's queue."""
    st = _ctx(request).service.status()
    return {"daemon": st.state, "pid": st.pid, "started": st.started, "problems": st.problems,
            "cameras": {n: c.__dict__ for n, c in st.cameras.items()},
            "sinks": [{"sink": s.sink, "queued": s.queued, "delivered": s.delivered, "gave_up": s.gave_up,
                       "last_delivery": s.last_delivery.isoformat() if s.last_delivery else None,
                       "last_error": s.last_error} for s in st.sinks]}


@router.get("/cameras", tags=["cameras"])
def cameras(p: Reader, request: Request) -> list[dict[str, object]]:
    """Every camera: live (frames arriving), its counters, and whether a live view is served."""
    ctx = _ctx(request)
    st = ctx.service.status()
    out = []
    for name in ctx.service.cameras():
        snap = ctx.live.snapshot(name) if ctx.live is not None else None
        counters = st.cameras.get(name)
        down = st.alive and (counters is None or (snap is not None and snap.age_s > 10) or
                             (snap is None and ctx.live is not None))
        out.append({"name": name, "live": snap is not None, "down": bool(down),
                    "counters": counters.__dict__ if counters else None})
    return out


@router.get("/cameras/{camera}/live", tags=["cameras"])
def live(p: Reader, camera: str, request: Request) -> dict[str, object]:
    """The camera's newest frame: its index and size, and the faces on it (boxes in its pixels, names, distances)."""
    return _live_json(_live_view(request, camera), camera)


@router.get("/cameras/{camera}/live/stream", tags=["cameras"], response_class=StreamingResponse)
async def live_stream(p: Reader, camera: str, request: Request) -> StreamingResponse:
    """What ``/live`` answers, pushed as server-sent events (``event: frame``) for each new frame, at most
    ``[web] live_fps`` a second: the live page draws its boxes from it."""
    view = _live_view(request, camera)
    period = 1.0 / _ctx(request).cfg.live_fps

    async def lines() -> AsyncIterator[str]:
        shown = None
        while not await request.is_disconnected():
            snap = view.snapshot(camera)
            if snap is not None and snap.index != shown:
                shown = snap.index
                yield f"event: frame\ndata: {json.dumps(_live_json(view, camera, snap), ensure_ascii=False)}\n\n"
            await asyncio.sleep(period)

    return StreamingResponse(lines(), media_type="text/event-stream", headers={"Cache-Control": "no-store"})


@router.get("/cameras/{camera}/live.mjpeg", tags=["cameras"], response_class=StreamingResponse)
async def live_mjpeg(p: Reader, camera: str, request: Request) -> StreamingResponse:
    """The camera's frames as an MJPEG stream (``multipart/x-mixed-replace``), each new frame at most
    ``[web] live_fps`` a second: an ``<img>`` shows it as video, decoded by the browser itself."""
    view = _live_view(request, camera)
    period = 1.0 / _ctx(request).cfg.live_fps

    async def parts() -> AsyncIterator[bytes]:
        shown = None
        while not await request.is_disconnected():
            got = await asyncio.to_thread(view.jpeg, camera)  # encoded once per frame, whoever asks first
            if got is not None and got[0] != shown:
                shown = got[0]
                yield (f"--{MJPEG_BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(got[1])}\r\n"
                       f"X-Frame: {got[0]}\r\n\r\n").encode() + got[1] + b"\r\n"
            await asyncio.sleep(period)

    return StreamingResponse(parts(), media_type=f"multipart/x-mixed-replace; boundary={MJPEG_BOUNDARY}",
                             headers={"Cache-Control": "no-store"})


@router.get("/cameras/{camera}/live.jpg", tags=["cameras"], response_class=Response)
def live_jpeg(p: Reader, camera: str, request: Request) -> Response:
    """The camera's newest frame as JPEG."""
    got = _live_view(request, camera).jpeg(camera)
    if got is None:
        raise HTTPException(404, f"no live frame from camera {camera!r}")
    return Response(got[1], media_type="image/jpeg", headers={"X-Frame": str(got[0]), "Cache-Control": "no-store"})


# ----- events ---------------------------------------------------------------------------------------------------


@router.get("/events", tags=["events"])
def events(p: Reader, request: Request, person: str | None = Query(None, max_length=200),
           camera: str | None = Query(None, max_length=64), unknown: bool = False,
           since: dt.datetime | None = None, until: dt.datetime | None = None,
           before: str | None = Query(None, max_length=80, description="the `next` cursor of the previous page"),
           limit: int = Query(50, ge=1, le=200)) -> dict[str, object]:
    """Visits, newest first, filtered; pages follow ``next`` (a cursor, stable while new visits arrive)."""
    cursor = None
    if before:
        when, _, event_id = before.partition("~")
        try:
            cursor = (dt.datetime.fromisoformat(when), event_id)
        except ValueError as exc:
            raise HTTPException(400, f"before={before!r}: not a cursor from this API") from exc
    rows = _ctx(request).service.query_events(EventQuery(person, camera, unknown, _utc(since), _utc(until), cursor,
                                                          limit))
    nxt = f"{rows[-1].start.isoformat()}~{rows[-1].id}" if len(rows) == limit else None
    return {"events": [event_json(e) for e in rows], "next": nxt}


@router.get("/events/{event_id}", tags=["events"])
def event(p: Reader, event_id: str, request: Request) -> dict[str, object]:
    """One visit with its faces (time, quality, distance to the person named) and its decision."""
    svc = _ctx(request).service
    e = svc.event(_event_id(event_id))
    return {**event_json(e), "faces": [f.__dict__ for f in svc.event_faces(e.id)], "model_id": e.model_id}


@router.get("/events/{event_id}/{kind}.jpg", tags=["events"], response_class=FileResponse)
def event_picture(p: Reader, event_id: str, kind: str, request: Request) -> FileResponse:
    """A visit's ``snapshot`` (the frame) or ``crop`` (the face) as JPEG."""
    if kind not in ("snapshot", "crop"):
        raise HTTPException(404, f"no picture {kind!r}: snapshot or crop")
    path = _ctx(request).service.event_picture(_event_id(event_id), kind)
    return FileResponse(path, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=3600"})


@router.post("/events/{event_id}/label", tags=["events"])
def label(p: Changer, event_id: str, body: NameBody, request: Request) -> dict[str, object]:
    """This visit's face is ``name``: its crop is enrolled as ``name`` and the visit renamed."""
    out = _ctx(request).service.label(_event_id(event_id), body.name)
    return {"event": event_json(out.event), "enrolled": outcome_json(out.enrolled) if out.enrolled else None}


@router.post("/events/{event_id}/not", tags=["events"])
def label_not(p: Changer, event_id: str, body: NameBody, request: Request) -> dict[str, object]:
    """This visit's face is not ``name``: faces like it are not named ``name`` again."""
    out = _ctx(request).service.label_not(_event_id(event_id), body.name)
    return {"event": event_json(out.event), "negatives_added": out.negatives_added}


@router.post("/events/{event_id}/dismiss", tags=["events"])
def dismiss(p: Changer, event_id: str, request: Request) -> dict[str, int]:
    """This visit needs no answer: it leaves the review list."""
    return {"dismissed": _ctx(request).service.dismiss([_event_id(event_id)])}


# ----- review ---------------------------------------------------------------------------------------------------


@router.get("/review/groups", tags=["review"])
def review_groups(p: Reader, request: Request) -> list[dict[str, object]]:
    """Unknown visits not yet reviewed, grouped by likeness (largest group first)."""
    return [{"events": list(g.events), "size": len(g.events), "spread": round(g.spread, 3),
             "representative": g.representative, "crop": f"/api/v1/events/{g.representative}/crop.jpg"}
            for g in _ctx(request).service.review_groups()]


@router.post("/review/label", tags=["review"])
def review_label(p: Changer, body: GroupLabel, request: Request) -> dict[str, object]:
    """These visits are ``name``: each one's face crop is enrolled and the visit renamed."""
    outs = _ctx(request).service.label_group([_event_id(i) for i in body.events], body.name)
    return {"labelled": [o.event.id for o in outs if o.enrolled and o.enrolled.ok],
            "outcomes": [outcome_json(o.enrolled) for o in outs if o.enrolled]}


@router.post("/review/not", tags=["review"])
def review_not(p: Changer, body: GroupLabel, request: Request) -> dict[str, object]:
    """These visits are not ``name``."""
    outs = _ctx(request).service.label_group_not([_event_id(i) for i in body.events], body.name)
    return {"negatives_added": sum(o.negatives_added for o in outs)}


@router.post("/review/dismiss", tags=["review"])
def review_dismiss(p: Changer, body: EventsBody, request: Request) -> dict[str, int]:
    """These visits need no answer: they leave the review list."""
    return {"dismissed": _ctx(request).service.dismiss([_event_id(i) for i in body.events])}


# ----- people ---------------------------------------------------------------------------------------------------


@router.get("/people", tags=["people"])
def people(p: Reader, request: Request) -> list[dict[str, object]]:
    """Everyone enrolled: photos, when last seen, whether home."""
    svc = _ctx(request).service
    last, home = svc.last_seen(), {x.person: x.home for x in svc.presence()}
    return [{"id": x.id, "name": x.name, "photos": x.photos, "embeddings": x.embeddings,
             "last_seen": last[x.name].isoformat() if x.name in last else None, "home": home.get(x.name)}
            for x in svc.people()]


@router.post("/people", tags=["people"], status_code=201)
async def create_person(p: Changer, request: Request, name: Annotated[str, Form(max_length=200)],
                        photo: Annotated[UploadFile, File()]) -> dict[str, object]:
    """Enrol a new (or known) person from one uploaded photo (one face; the checks of `facecam enroll`)."""
    return await _enrol_upload(request, name, photo)


@router.get("/people/{person_id}", tags=["people"])
def person(p: Reader, person_id: int, request: Request) -> dict[str, object]:
    """One person: their photos (with the face quality enrolment measured) and latest visits."""
    svc = _ctx(request).service
    x = svc.person(person_id)
    visits = svc.query_events(EventQuery(person=x.name, limit=20))
    return {"id": x.id, "name": x.name, "photos": [
        {"id": ph.photo_id, "quality": ph.quality, "added": ph.added, "image": f"/api/v1/photos/{ph.photo_id}/image"}
        for ph in svc.photos(x.name)], "visits": [event_json(e) for e in visits],
        "last_seen": visits[0].end.isoformat() if visits else None}


@router.patch("/people/{person_id}", tags=["people"])
def rename(p: Changer, person_id: int, body: NameBody, request: Request) -> dict[str, object]:
    """Rename a person."""
    svc = _ctx(request).service
    svc.rename(svc.person(person_id).name, body.name)
    x = svc.person(person_id)
    return {"id": x.id, "name": x.name}


@router.delete("/people/{person_id}", tags=["people"])
def remove(p: Changer, person_id: int, request: Request) -> dict[str, int]:
    """Remove a person with all their photos."""
    svc = _ctx(request).service
    return {"photos_removed": svc.remove(svc.person(person_id).name)}


@router.post("/people/{person_id}/photos", tags=["people"], status_code=201)
async def add_photo(p: Changer, person_id: int, request: Request,
                    photo: Annotated[UploadFile, File()]) -> dict[str, object]:
    """Enrol one more uploaded photo of this person."""
    return await _enrol_upload(request, _ctx(request).service.person(person_id).name, photo)


@router.get("/photos/{photo_id}/image", tags=["people"], response_class=FileResponse)
def photo_image(p: Reader, photo_id: int, request: Request) -> FileResponse:
    """An enrolment photo, as it was enrolled."""
    ph = _ctx(request).service.photo(photo_id)
    if not ph.path.is_file():
        raise HTTPException(404, f"photo {photo_id}'s file is missing")
    media = mimetypes.guess_type(ph.path.name)[0] or "application/octet-stream"
    return FileResponse(ph.path, media_type=media, headers={"Cache-Control": "private, max-age=3600"})


@router.delete("/photos/{photo_id}", tags=["people"])
def remove_photo(p: Changer, photo_id: int, request: Request) -> dict[str, object]:
    """Remove one enrolment photo and its embeddings."""
    ph = _ctx(request).service.remove_photo(photo_id)
    return {"removed": ph.photo_id, "person": ph.person}


# ----- presence, settings, alerts -------------------------------------------------------------------------------


@router.get("/presence", tags=["presence"])
def presence(p: Reader, request: Request) -> list[dict[str, object]]:
    """Who is home, as the daemon last stored it, merged with the other household nodes' sightings (``node``:
    the node whose camera saw them last; ``null``: this one)."""
    return [{"person": x.person, "home": x.home, "since": x.since.isoformat(), "last_seen": x.last_seen.isoformat(),
             "camera": x.camera, "node": x.node} for x in _ctx(request).service.presence()]


@router.get("/settings", tags=["settings"])
def settings(p: Reader, request: Request) -> dict[str, object]:
    """The effective configuration (secrets hidden) and the matching threshold in use."""
    ctx = _ctx(request)
    svc = ctx.service
    return {"config": svc.settings(), "max_distance": svc.cfg.max_distance_for("", svc.default_max_distance()),
            "model_default": svc.default_max_distance(),
            "config_file": str(ctx.config_path) if ctx.config_path else None}


@router.get("/settings/recommendation", tags=["settings"])
def recommendation(p: Reader, request: Request, target_far: float = Query(0.01, gt=0, lt=1)) -> dict[str, object]:
    """`facecam calibrate`'s threshold for the enrolled gallery at a target false-accept rate."""
    rec = _ctx(request).service.recommend_threshold(target_far)
    return {"max_distance": rounded(rec.max_distance), "target_far": target_far, "binding": rec.binding,
            "expected_named": rec.expected_named, "photos": rec.n_enrolled}


@router.post("/settings/threshold", tags=["settings"])
def apply_threshold(p: Changer, body: Threshold, request: Request) -> dict[str, object]:
    """Write ``[matching] max_distance`` into the daemon's config file; it takes effect at the next start."""
    ctx = _ctx(request)
    if ctx.config_path is None:
        raise HTTPException(409, "the daemon runs without a config file (--config FILE); nowhere to write it")
    set_max_distance(ctx.config_path, rounded(body.max_distance))
    return {"written": str(ctx.config_path), "max_distance": rounded(body.max_distance),
            "note": "restart facecam for it to take effect"}


@router.get("/alerts/stream", tags=["alerts"], response_class=StreamingResponse)
async def alert_stream(p: Reader, request: Request) -> StreamingResponse:
    """Alerts as they happen, as server-sent events (``data:`` lines of the alert JSON)."""
    source = _ctx(request).alerts

    async def lines() -> AsyncIterator[str]:
        newest = await asyncio.to_thread(source.since, -1)
        last = newest[-1][0] if newest else 0
        yield ": facecam alerts\n\n"
        idle = 0.0
        while not await request.is_disconnected():
            got = await asyncio.to_thread(source.since, last)
            for seq, alert in got:
                last = seq
                yield f"id: {seq}\nevent: alert\ndata: {json.dumps(alert, ensure_ascii=False)}\n\n"
            idle = 0.0 if got else idle + 0.5
            if idle >= 15:
                yield ": keep-alive\n\n"
                idle = 0.0
            await asyncio.sleep(0.5)

    return StreamingResponse(lines(), media_type="text/event-stream", headers={"Cache-Control": "no-store"})


# ----- helpers --------------------------------------------------------------------------------------------------


async def _enrol_upload(request: Request, name: str, photo: UploadFile) -> dict[str, object]:
    ctx = _ctx(request)
    limit = int(ctx.cfg.max_upload_mb * 1e6)
    suffix = "." + (photo.filename or "").rsplit(".", 1)[-1].lower() if "." in (photo.filename or "") else ""
    if photo.content_type not in IMAGE_TYPES or (suffix and suffix not in IMAGE_SUFFIXES):
        raise HTTPException(415, f"{photo.filename!r}: not a photo (JPEG, PNG, WebP, BMP, TIFF or PGM)")
    data = await photo.read(limit + 1)
    if len(data) > limit:
        raise HTTPException(413, f"{photo.filename!r}: larger than {ctx.cfg.max_upload_mb:g} MB")
    outcome = await asyncio.to_thread(ctx.service.enroll_upload, name, data, photo.filename or "upload")
    if not outcome.ok:
        return JSONResponse({"detail": outcome.reason, **outcome_json(outcome)}, status_code=422)  # type: ignore[return-value]
    return outcome_json(outcome)


def _live_view(request: Request, camera: str) -> LiveView:
    """The daemon's live view, once ``camera`` has shown a frame (else 404: no daemon, or no such camera)."""
    view = _ctx(request).live
    if view is None or view.snapshot(camera) is None:
        raise HTTPException(404, f"no live frame from camera {camera!r} (the live view needs `facecam run --web`)")
    return view


def _live_json(view: LiveView, camera: str, snap: LiveFrame | None = None) -> dict[str, object]:
    snap = snap or view.snapshot(camera)
    if snap is None:
        raise HTTPException(404, f"no live frame from camera {camera!r}")
    return {"camera": snap.camera, "frame": snap.index, "width": snap.width, "height": snap.height,
            "time": snap.wall_time, "age_s": round(snap.age_s, 2),
            "tracks": [{"box": [round(v, 1) for v in t.box_xyxy], "track": t.track, "person": t.person,
                        "known": t.person not in (None, UNKNOWN), "distance": t.distance} for t in snap.tracks]}


def _event_id(text: str) -> str:
    if not EVENT_ID.fullmatch(text):
        raise HTTPException(400, f"{text!r} is not an event id (6 to 32 hex digits)")
    return text


def _utc(t: dt.datetime | None) -> dt.datetime | None:
    return None if t is None else (t if t.tzinfo else t.replace(tzinfo=dt.UTC))

