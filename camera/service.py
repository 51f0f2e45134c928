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

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from camera.app import Engines, engines_for
from camera.config import Config
from camera.engine import Engine
from camera.errors import FacecamError
from camera.events.store import Event, EventError, EventStore, Presence
from camera.gallery.enroll import EnrolOutcome, enroll_data, enroll_from_dir, enroll_photos, rebuild
from camera.gallery.store import Gallery, PersonSummary, validate_name
from camera.status import DaemonStatus, read_daemon_status
from camera.types import UNKNOWN


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

    # ----- events ------------------------------------------------------------------

    def events(self, limit: int = 50, person: str | None = None) -> list[Event]:
        """The latest events, newest first (none yet: an empty list)."""
        try:
            with EventStore.open_readonly(self.root, self.cfg.events) as store:
                return store.list(limit, person)
        except EventError:
            if (self.root / "events.sqlite3").exists():
                raise
            return []

    def event(self, event_id: str) -> Event:
        """One event, by id or a unique prefix of at least 6 hex digits."""
        with EventStore.open_readonly(self.root, self.cfg.events) as store:
            return store.get(event_id)

    def presence(self) -> list[Presence]:
        """Everyone's last stored presence, by name (none yet: an empty list)."""
        try:
            with EventStore.open_readonly(self.root, self.cfg.events) as store:
                return store.presence()
        except EventError:
            if (self.root / "events.sqlite3").exists():
                raise
            return []

    def label(self, event_id: str, name: str) -> LabelOutcome:
        """The event's face is ``name``: enrol its crop as ``name`` and rename the event."""
        name = validate_name(name)
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
        with EventStore(self.root, self.cfg.events) as store, Gallery(self.root) as g:
            event = store.get(event_id)
            added = g.add_negative(name, event.vectors, event.model_id, f"event:{event.id}")
            if event.person == name:
                store.update(event.id, event.end, event.end_s, person=UNKNOWN)
            return LabelOutcome(store.get(event.id), negatives_added=added)

    # ----- the daemon ----------------------------------------------------------------

    def status(self) -> DaemonStatus:
        """The running daemon's cameras and the sinks' queues, as last written."""
        return read_daemon_status(self.root)

    def enrolment_engine(self) -> Engine:
        """The engine enrolment uses (built on first use)."""
        if self._engines is None:
            self._engines = engines_for(self.root)
        return self._engines.enrolment(self.cfg.engine)


