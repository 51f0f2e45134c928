"""What facecam does for its users apart from watching cameras: events, labels, people, presence, status.

The ``facecam`` command and the web API call these methods; nothing here
prints or parses arguments, and each method is one whole action (a label
enrols the crop *and* renames the event). Reads open the event store
read-only, so looking never writes to the data directory; changes open what
they change for the length of the call. Engines are built on first use.
Errors are :class:`~camera.errors.FacecamError` (or
:class:`~camera.errors.ModelLoadError`) with a message that says what to fix.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from camera.app import Engines, engines_for
from camera.config import Config
from camera.embed import model_default_max_distance
from camera.engine import Engine
from camera.errors import FacecamError
from camera.evaluation.calibrate import Recommendation
from camera.evaluation.gallery_calibrate import calibrate_gallery
from camera.events.review import ReviewGroup, group_unknown
from camera.events.store import EVENTS_DB, Event, EventError, EventFace, EventQuery, EventStore, Presence
from camera.gallery.enroll import EnrolOutcome, enroll_data, enroll_from_dir, enroll_photos, rebuild
from camera.gallery.store import Gallery, GalleryNotFound, PersonSummary, StoredPhoto, validate_name
from camera.household.presence import merge_presence
from camera.household.store import SightingStore
from camera.household.sync import HouseholdSync, SyncStats
from camera.redact import redact_config
from camera.status import DaemonStatus, read_daemon_status
from camera.types import UNKNOWN

T = TypeVar("T")


@dataclass(frozen=True)
class LabelOutcome:
    """What labelling an event did: the event (as it is now), the photo enrolled, the negatives stored."""

    event: Event
    enrolled: EnrolOutcome | None = None
    negatives_added: int = 0


class Service:
    """The household's facecam at data directory ``root`` with settings ``cfg``.

    ``engines`` may be shared with a running pipeline (the daemon's web app),
    so enrolment uses the models already loaded.
    """

    def __init__(self, cfg: Config, root: Path, engines: Engines | None = None) -> None:
        self.cfg = cfg
        self.root = Path(root)
        self._engines = engines
        #: the last review groups and what they were made from (the visits' ids and end times, the cut)
        self._review_cache: tuple[object, list[ReviewGroup]] | None = None

    # ----- people ------------------------------------------------------------------

    def people(self) -> list[PersonSummary]:
        """Everyone enrolled, by name."""
        with Gallery(self.root) as g:
            return g.people()

    def enroll(self, name: str, photos: Sequence[Path]) -> list[EnrolOutcome]:
        """Enrol ``photos`` (one face each) as ``name``; one outcome per photo."""
        validate_name(name)
        with Gallery(self.root) as g:
            return enroll_photos(g, self.enrolment_engine(), name, list(photos))

    def enroll_upload(self, name: str, data: bytes, filename: str) -> EnrolOutcome:
        """Enrol one uploaded photo as ``name`` (the same checks as :meth:`enroll`)."""
        validate_name(name)
        with Gallery(self.root) as g:
            return enroll_data(g, self.enrolment_engine(), name, data, filename)

    def enroll_dir(self, folder: Path) -> list[EnrolOutcome]:
        """Enrol everyone in ``folder/NAME/*.jpg``."""
        with Gallery(self.root) as g:
            return enroll_from_dir(g, self.enrolment_engine(), folder)

    def rename(self, old: str, new: str) -> None:
        with Gallery(self.root) as g:
            g.rename(old, new)

    def remove(self, name: str) -> int:
        """Remove a person with their photos; returns the photos removed."""
        with Gallery(self.root) as g:
            return g.remove(name)

    def rebuild(self) -> list[EnrolOutcome]:
        """Embed stored photos that have no embedding from the current model."""
        with Gallery(self.root) as g:
            return rebuild(g, self.enrolment_engine())

    def photos(self, name: str) -> list[StoredPhoto]:
        """A person's enrolment photos (with their face quality), oldest first."""
        with Gallery(self.root) as g:
            if validate_name(name) not in {p.name for p in g.people()}:
                raise GalleryNotFound(f"no person named {name!r}; see `facecam people list`")
            return g.photos(name)

    def person(self, person_id: int) -> PersonSummary:
        with Gallery(self.root) as g:
            return g.person(person_id)

    def photo(self, photo_id: int) -> StoredPhoto:
        with Gallery(self.root) as g:
            return g.photo(photo_id)

    def remove_photo(self, photo_id: int) -> StoredPhoto:
        """Remove one enrolment photo and its embeddings."""
        with Gallery(self.root) as g:
            return g.remove_photo(photo_id)

    # ----- events ------------------------------------------------------------------

    def events(self, limit: int = 50, person: str | None = None) -> list[Event]:
        """The latest events, newest first (none yet: an empty list)."""
        return self.query_events(EventQuery(person=person, limit=limit))

    def query_events(self, q: EventQuery) -> list[Event]:
        """Events matching ``q``, newest first, without their vectors (none yet: an empty list)."""
        return self._read(lambda s: s.query(q), [])

    def event(self, event_id: str) -> Event:
        """One event, by id or a unique prefix of at least 6 hex digits."""
        with EventStore.open_readonly(self.root, self.cfg.events) as store:
            return store.get(event_id)

    def event_faces(self, event_id: str) -> list[EventFace]:
        """The embedded faces of one event (quality, distance to the person named), in order."""
        with EventStore.open_readonly(self.root, self.cfg.events) as store:
            return store.faces(store.get(event_id).id)

    def event_picture(self, event_id: str, kind: str) -> Path:
        """The file of an event's ``snapshot`` (the frame) or ``crop`` (the face), or :class:`EventError`."""
        e = self.event(event_id)
        path = {"snapshot": e.snapshot, "crop": e.crop}.get(kind)
        if path is None or not Path(path).is_file():
            raise EventError(f"event {e.id} has no {kind} picture (not kept, or removed by retention)")
        return Path(path)

    def cameras(self) -> list[str]:
        """The configured cameras, then any other camera that has events."""
        seen = self._read(lambda s: s.cameras(), [])
        return list(dict.fromkeys([*self.cfg.cameras, *seen]))

    def presence(self) -> list[Presence]:
        """Everyone's last stored presence, by name (none yet: an empty list), merged with the other household
        nodes' sightings when a household sync stored some (:func:`~camera.household.presence.merge_presence`)."""
        local = self._read(lambda s: s.presence(), [])
        store = SightingStore.open_readonly(self.root)
        if store is None:
            return local
        with store:
            remote = store.sightings()
        return merge_presence(local, remote, dt.datetime.now(dt.UTC), self.cfg.presence.away_after_s)

    def last_seen(self) -> dict[str, dt.datetime]:
        """Each enrolled person's latest visit end (UTC)."""
        people = [p.name for p in self.people()]
        return self._read(lambda s: s.last_seen(people), {})

    # ----- review: unknown visits grouped by likeness --------------------------------------------

    def review_groups(self, limit: int = 2000) -> list[ReviewGroup]:
        """The latest unknown visits not yet reviewed, grouped by likeness.

        Visits join while their mean faces are within ``[tracking] track_max_distance`` (0.56: calibrated
        on LFW so that genuine track means fall below it and strangers' above), or the matching threshold
        if that is stricter.
        """
        cut = min(self.cfg.tracking.track_max_distance, self.cfg.max_distance_for("", self.default_max_distance()))

        def grouped(store: EventStore) -> list[ReviewGroup]:
            key = (store.review_state(limit), cut)
            cached = self._review_cache
            if cached is not None and cached[0] == key:  # the same visits as last time: the same groups
                return cached[1]
            groups = group_unknown(store.for_review(limit), cut)
            self._review_cache = (key, groups)
            return groups

        return self._read(grouped, [])

    def label_group(self, event_ids: Sequence[str], name: str) -> list[LabelOutcome]:
        """These visits are ``name``: each one's face crop is enrolled as ``name`` and the visit renamed."""
        outcomes = [self.label(i, name) for i in event_ids]
        self._mark([o.event.id for o in outcomes if o.enrolled is not None and o.enrolled.ok], "labelled")
        return outcomes

    def label_group_not(self, event_ids: Sequence[str], name: str) -> list[LabelOutcome]:
        """These visits are not ``name`` (negative examples), and they leave the review list."""
        outcomes = [self.label_not(i, name) for i in event_ids]
        self._mark([o.event.id for o in outcomes], "dismissed")
        return outcomes

    def dismiss(self, event_ids: Sequence[str]) -> int:
        """These visits need no answer: they leave the review list (nothing is enrolled). Returns how many."""
        return self._mark([self.event(i).id for i in event_ids], "dismissed")

    def _mark(self, ids: list[str], state: str) -> int:
        with EventStore(self.root, self.cfg.events) as store:
            return store.set_reviewed(ids, state)

    def label(self, event_id: str, name: str) -> LabelOutcome:
        """The event's face is ``name``: enrol its crop as ``name`` and rename the event."""
        name = validate_name(name)
        event_id = self.event(event_id).id  # looked up read-only first: an id that names no event creates nothing
        with EventStore(self.root, self.cfg.events) as store, Gallery(self.root) as g:
            event = store.get(event_id)
            if event.crop is None:
                raise FacecamError(f"event {event.id} has no face crop to enrol (pictures of known people are "
                                   "not kept with [events] known_images = false, or it was removed)")
            outcome = enroll_photos(g, self.enrolment_engine(), name, [Path(event.crop)])[0]
            if outcome.ok:
                store.update(event.id, event.end, event.end_s, person=name)
            return LabelOutcome(store.get(event.id), enrolled=outcome)

    def label_not(self, event_id: str, name: str) -> LabelOutcome:
        """The event's face is not ``name``: store its faces as negative examples of ``name``
        (faces like it are not named ``name`` again); an event named ``name`` becomes unknown."""
        name = validate_name(name)
        event_id = self.event(event_id).id  # looked up read-only first: an id that names no event creates nothing
        with EventStore(self.root, self.cfg.events) as store, Gallery(self.root) as g:
            event = store.get(event_id)
            added = g.add_negative(name, event.vectors, event.model_id, f"event:{event.id}")
            if event.person == name:
                store.update(event.id, event.end, event.end_s, person=UNKNOWN)
            return LabelOutcome(store.get(event.id), negatives_added=added)

    # ----- the household (other nodes on the MQTT broker) -------------------------------------

    @contextmanager
    def household(self) -> Iterator[HouseholdSync | None]:
        """This node's household sync, started and waited for up to ``[household] startup_wait_s``
        (``None`` without ``[household]``); closed on exit (last sightings and records published)."""
        if self.cfg.household is None:
            yield None
            return
        engine = self.enrolment_engine()  # loaded here, once, not on the sync's thread
        sync = HouseholdSync(self.cfg.household, self.root, lambda: engine, self.cfg.presence.away_after_s)
        try:
            sync.start()
            yield sync
        finally:
            sync.close()

    def sync_household(self) -> SyncStats:
        """Once: publish this node's people (and withdraw the removed), import the other nodes' people and
        sightings; returns what was done. FacecamError without ``[household]`` or when the broker is not
        reached within ``startup_wait_s``."""
        if self.cfg.household is None:
            raise FacecamError("no [household] table in the config: give --config with one (docs/scale-out.md)")
        with self.household() as sync:
            if sync is None or not sync.synced:
                h = self.cfg.household
                raise FacecamError(f"household: no sync with the MQTT broker at {h.host}:{h.port} within "
                                   f"{h.startup_wait_s:g} s ([household] startup_wait_s); nothing was shared")
            return sync.stats

    # ----- the daemon ----------------------------------------------------------------

    def status(self) -> DaemonStatus:
        """The running daemon's cameras and the sinks' queues, as last written."""
        return read_daemon_status(self.root)

    def settings(self) -> dict[str, object]:
        """The effective configuration, secrets hidden (camera URLs' passwords, webhook ids and headers)."""
        dump = self.cfg.model_dump(mode="json")
        dump["data_dir"] = str(self.root)
        return redact_config(dump)

    def default_max_distance(self) -> float:
        """The configured embedder's own threshold (from the model manifest; no model is loaded)."""
        return model_default_max_distance(self.cfg.engine.embedder_name, engines_for(self.root).folder,
                                          self.cfg.engine.precision)

    def recommend_threshold(self, target_far: float = 0.01) -> Recommendation:
        """``facecam calibrate``'s recommendation for the enrolled gallery."""
        rec, _model_id, _default = calibrate_gallery(self.root, self.cfg, target_far, engine=self.enrolment_engine())
        return rec

    def _read(self, read: Callable[[EventStore], T], empty: T) -> T:
        """``read`` on the event store opened read-only; ``empty`` when there is no store yet."""
        try:
            with EventStore.open_readonly(self.root, self.cfg.events) as store:
                return read(store)
        except EventError:
            if (self.root / EVENTS_DB).exists():
                raise
            return empty

    def enrolment_engine(self) -> Engine:
        """The engine enrolment uses (built on first use)."""
        if self._engines is None:
            self._engines = engines_for(self.root)
        return self._engines.enrolment(self.cfg.engine)


