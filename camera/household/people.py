"""People between a node's gallery and the household's records: this node's own out, the others' in.

:func:`own_records` turns the people enrolled *here* (photos without an
``origin``) into :class:`~camera.household.records.PersonRecord` payloads;
imported photos are never among them, so nothing echoes between nodes.
:class:`Importer` puts a checked record of another node into the gallery
with that node as the photos' ``origin``. The photo is the source of truth:
the record's embedding is used only when it was made by this node's model
and has that model's size; otherwise the photo is embedded here. Embeddings
of two models are never mixed (the gallery keeps them apart by model id).
Runs on the household sync's thread; nothing here touches the network.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

from camera.alerts.sinks.mqtt import slug
from camera.engine import Engine
from camera.errors import FacecamError
from camera.gallery.enroll import single_face
from camera.gallery.store import Gallery, ImportedPhoto
from camera.household.records import EmbeddingRecord, PersonRecord, PhotoRecord
from camera.imageio import decode_image, read_bytes

log = logging.getLogger(__name__)


def own_records(gallery: Gallery, node: str, model_id: str, max_bytes: int) -> tuple[dict[str, bytes], set[str]]:
    """Each person enrolled on this node as a record payload (their photos with ``model_id``'s embedding of
    each), by slug; and the slugs of records over ``max_bytes`` (not returned; a warning names them)."""
    photos: dict[str, list[PhotoRecord]] = {}
    for p in gallery.photos():
        if p.origin is not None:
            continue
        try:
            data = read_bytes(p.path)
        except FacecamError as exc:
            log.warning("household: a photo of %s is not shared: %s", p.person, exc)
            continue
        found = gallery.embedding(p.photo_id, model_id)
        embeddings = () if found is None else (EmbeddingRecord(model_id, found[0], _box(found[1])),)
        photos.setdefault(p.person, []).append(PhotoRecord(p.sha256, p.path.suffix, data, embeddings))
    out, too_big = {}, set()
    for person, recs in photos.items():
        payload = PersonRecord(node, person, tuple(recs)).encode()
        if len(payload) > max_bytes:
            log.warning("household: %s not shared: their record is %.1f MB, over [household] max_record_mb = %g",
                        person, len(payload) / 1e6, max_bytes / 1e6)
            too_big.add(slug(person))
            continue
        out[slug(person)] = payload
    return out, too_big


class Importer:
    """Puts other nodes' people into ``gallery``; ``engine()`` gives this node's enrolment engine."""

    def __init__(self, gallery: Gallery, engine: Callable[[], Engine]) -> None:
        self.gallery = gallery
        self.engine = engine
        self._dims: dict[str, int] = {}

    def apply(self, record: PersonRecord) -> tuple[int, int]:
        """Make the record's person have exactly its photos from its node; returns (photos added, removed)."""
        photos = [p for p in (self._checked(record, ph) for ph in record.photos) if p is not None]
        added, removed = self.gallery.import_person(record.person, record.node, photos)
        if added or removed:
            log.info("household: %s from node %s: %d photos added, %d removed", record.person, record.node, added,
                     removed)
        return added, removed

    def withdraw(self, node: str, key: str, why: str = "withdrew") -> int:
        """Remove the photos imported from ``node`` of the person whose slug is ``key``; returns how many."""
        removed = 0
        for name in self.gallery.imported_names(node):
            if slug(name) == key:
                n = self.gallery.import_person(name, node, [])[1]
                log.info("household: node %s %s %s: %d photos removed", node, why, name, n)
                removed += n
        return removed

    def purge(self, nodes: Iterable[str], held: set[tuple[str, str]]) -> int:
        """Remove what was imported from ``nodes`` but is not among the ``(node, slug)`` records the broker
        ``held`` at the last sync (withdrawn while this node was away); returns the photos removed."""
        removed = 0
        for node in sorted(nodes):
            for name in self.gallery.imported_names(node):
                if (node, slug(name)) not in held:
                    removed += self.withdraw(node, slug(name), why="no longer shares")
        return removed

    def _checked(self, record: PersonRecord, photo: PhotoRecord) -> ImportedPhoto | None:
        """The photo with an embedding of this node's model: the record's when it is of that model and size,
        the one stored before, or made here from the photo (``None`` when the photo shows no single face)."""
        engine = self.engine()
        model = engine.embedder.model_id
        name = f"{record.person}/{photo.sha256[:12]}{photo.suffix} from node {record.node}"
        source = f"household node {record.node}"
        sent = next((e for e in photo.embeddings if e.model_id == model), None)
        dim = self._dim(model)
        if sent is not None and dim is not None and sent.vector.shape == (dim,):
            return ImportedPhoto(photo.sha256, photo.data, source, photo.suffix, sent.vector, model, sent.box_xyxy)
        stored = self._stored(record.person, photo.sha256, model)
        if stored is not None:
            return ImportedPhoto(photo.sha256, photo.data, source, photo.suffix, stored.vector, model,
                                 stored.box_xyxy)
        try:
            vector, box, _quality = single_face(engine, decode_image(photo.data, name), name)
        except FacecamError as exc:
            log.warning("household: photo %s not imported: %s", name, exc)
            return None
        why = (f"its embeddings are from {', '.join(e.model_id for e in photo.embeddings) or 'no model'}, this "
               f"node uses {model}") if sent is None else f"no {model} embedding here yet to check its size against"
        log.info("household: embedded %s here (%s)", name, why)
        self._dims[model] = len(vector)
        return ImportedPhoto(photo.sha256, photo.data, source, photo.suffix, vector, model, _box(box))

    def _dim(self, model: str) -> int | None:
        """The size of ``model``'s vectors, from the gallery (``None`` while it has none)."""
        if model not in self._dims:
            index = self.gallery.index(model)
            if not len(index):
                return None
            self._dims[model] = int(index.vectors.shape[1])
        return self._dims[model]

    def _stored(self, person: str, sha256: str, model: str) -> EmbeddingRecord | None:
        """This photo's embedding by ``model`` if the gallery has it already (imported before)."""
        for p in self.gallery.photos(person):
            if p.sha256 == sha256:
                found = self.gallery.embedding(p.photo_id, model)
                if found is not None:
                    return EmbeddingRecord(model, found[0], _box(found[1]))
        return None


def _box(values: tuple[float, ...]) -> tuple[float, float, float, float]:
    x1, y1, x2, y2 = values
    return x1, y1, x2, y2
