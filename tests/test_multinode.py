"""Many nodes, one home: two facecam nodes with two data directories on one real mosquitto broker.

Lin-Manuel Miranda is enrolled on node ``front`` only; node ``back`` imports him
from the broker (photo verified by sha256, embedding by model id) and
recognises him on the Hamilton clip; ``front`` then shows him home from
``back``'s sighting (its MQTT presence topic and ``facecam events``). A record
whose photo does not hash to its sha256 is refused whole, and removing a
person on the node that enrolled them removes them from the other node too.
The records, merge and topic rules are table-tested as pure functions.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import signal
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from camera.alerts.sinks.memory import MemorySink
from camera.app import build_pipeline, engines_for
from camera.config import Config
from camera.events.store import Presence
from camera.gallery.enroll import enroll_photos
from camera.gallery.store import Gallery, ImportedPhoto
from camera.household.presence import RemoteSightings, merge_presence
from camera.household.records import (
    EmbeddingRecord,
    PersonRecord,
    PhotoRecord,
    RecordRefused,
    Sighting,
    Topics,
)
from tests.alerts_support import Mosquitto, Subscriber, needs_mosquitto, wait_until
from tests.conftest import AGEITGEY, HAMILTON, REPO, facecam

LIN = "lin_manuel_miranda"
LIN_PHOTO = next(iter(sorted((AGEITGEY / "identities" / LIN).iterdir())))
ALEX = "alex_lacamoire"
ALEX_PHOTO = next(iter(sorted((AGEITGEY / "identities" / ALEX).iterdir())))
OBAMA_PHOTO = AGEITGEY / "identities" / "obama" / "obama-240p.jpg"
BASE = "facecam/household"
MAX = 16_000_000


def _record(node: str = "front", person: str = LIN, data: bytes | None = None) -> PersonRecord:
    data = LIN_PHOTO.read_bytes() if data is None else data
    emb = EmbeddingRecord("dlib_resnet_v1", np.linspace(-0.2, 0.2, 128), (1.0, 2.0, 30.0, 40.0))
    return PersonRecord(node, person, (PhotoRecord(hashlib.sha256(data).hexdigest(), ".png", data, (emb,)),))


def _edit(payload: bytes, change) -> bytes:
    d = json.loads(payload)
    change(d)
    return json.dumps(d).encode()


def _swap_bytes(d: dict) -> None:
    d["photos"][0]["data"] = base64.b64encode(OBAMA_PHOTO.read_bytes()).decode()


def _nan_vector(d: dict) -> None:
    d["photos"][0]["embeddings"][0]["vector_f64le"] = base64.b64encode(np.full(128, np.nan).tobytes()).decode()


@pytest.mark.parametrize(("node", "key", "change", "max_bytes", "error"), [
    ("front", LIN, None, MAX, None),
    ("front", LIN, _swap_bytes, MAX, "sha256 mismatch"),
    ("front", LIN, lambda d: d["photos"][0].update(sha256="0" * 64), MAX, "sha256 mismatch"),
    ("back", LIN, None, MAX, "topic is node 'back'"),
    ("front", "obama", None, MAX, "does not belong on topic level"),
    ("front", LIN, lambda d: d.update(person="unknown"), MAX, "reserved"),
    ("front", LIN, lambda d: d.update(v=2), MAX, "format version 2"),
    ("front", LIN, lambda d: d["photos"][0].update(data="not base64!"), MAX, "not valid base64"),
    ("front", LIN, _nan_vector, MAX, "NaN"),
    ("front", LIN, lambda d: d["photos"].append(d["photos"][0]), MAX, "listed twice"),
    ("front", LIN, lambda d: d.update(photos=[]), MAX, "'photos'"),
    ("front", LIN, None, 1000, "at most 1000"),
])
def test_a_person_record_is_refused_whole_unless_every_check_passes(node, key, change, max_bytes, error) -> None:
    payload = _record().encode()
    if change is not None:
        payload = _edit(payload, change)
    if error is None:
        got = PersonRecord.decode(node, key, payload, max_bytes)
        assert got.person == LIN and got.photos[0].data == LIN_PHOTO.read_bytes()
        assert np.array_equal(got.photos[0].embeddings[0].vector, np.linspace(-0.2, 0.2, 128))
        assert got.encode() == payload  # deterministic: the same people give the same bytes
    else:
        with pytest.raises(RecordRefused, match=error):
            PersonRecord.decode(node, key, payload, max_bytes)


@pytest.mark.parametrize(("topic", "expected"), [
    (f"{BASE}/front/people/{LIN}", ("front", "people", LIN)),
    (f"{BASE}/back/presence/zoe_1a2b3c4d", ("back", "presence", "zoe_1a2b3c4d")),
    (f"{BASE}/back/sync", ("back", "sync", "")),
    (f"{BASE}/back/people", None),
    (f"{BASE}/ba ck/people/x", None),
    (f"{BASE}/back/people/Alice", None),
    (f"{BASE}/back/people/a/b", None),
    ("facecam/front/presence/alice/state", None),
])
def test_topics_parse_only_household_messages(topic: str, expected) -> None:
    assert Topics(BASE).parse(topic) == expected


T0 = dt.datetime(2026, 1, 31, 12, 0, tzinfo=dt.UTC)


def _at(minutes: float) -> dt.datetime:
    return T0 + dt.timedelta(minutes=minutes)


@pytest.mark.parametrize(("local", "remote", "expected"), [
    # seen at the back door 5 min ago (away after 10 min): home, from there
    ([], [Sighting("back", "al", True, "hall", _at(-30), _at(-5))], ("al", True, _at(-30), "hall", "back")),
    # that sighting is 11 min old: away since it ran out
    ([], [Sighting("back", "al", True, "hall", _at(-30), _at(-11))], ("al", False, _at(-1), "hall", "back")),
    # away here, home at the back: home; last seen where seen last
    ([Presence("al", False, _at(-20), _at(-25), "porch")], [Sighting("back", "al", True, "hall", _at(-8), _at(-2))],
     ("al", True, _at(-8), "hall", "back")),
    # home here (the board decides here), the back door saw them earlier and said they left
    ([Presence("al", True, _at(-3), _at(-3), "porch")], [Sighting("back", "al", False, "hall", _at(-4), _at(-14))],
     ("al", True, _at(-3), "porch", None)),
    # home at two nodes: since the earliest, last seen at the latest
    ([Presence("al", True, _at(-40), _at(-6), "porch")], [Sighting("back", "al", True, "hall", _at(-9), _at(-1))],
     ("al", True, _at(-40), "hall", "back")),
])
def test_presence_merges_across_nodes(local, remote, expected) -> None:
    [p] = merge_presence(local, remote, T0, away_after_s=600)
    assert (p.person, p.home, p.since, p.camera, p.node) == expected


# ----- two real nodes on one real broker ---------------------------------------------------------------------


def _config(path: Path, node: str, port: int, alerts: Path) -> Path:
    path.write_text(f'[alerts]\njsonl = "{alerts}"\n'
                    f'[household]\nnode = "{node}"\nport = {port}\nstartup_wait_s = 20\n'
                    f'[[alerts.mqtt]]\nport = {port}\nbase_topic = "facecam/{node}"\nnode_id = "{node}"\n')
    return path


def _log_has(path: Path, text: str) -> bool:
    return text in path.read_text(errors="replace")


@needs_mosquitto
def test_enrol_on_one_node_recognise_on_another_and_presence_is_shared(tmp_path: Path) -> None:
    (tmp_path / "broker").mkdir()
    broker = Mosquitto(tmp_path / "broker").start()
    sub = Subscriber(broker.port, ["#"]).wait_subscribed()
    data_a, data_b = tmp_path / "front", tmp_path / "back"
    cfg_a = _config(tmp_path / "front.toml", "front", broker.port, tmp_path / "front-alerts.jsonl")
    cfg_b = _config(tmp_path / "back.toml", "back", broker.port, tmp_path / "back-alerts.jsonl")
    blank = tmp_path / "porch"  # node front's camera sees an empty porch: whatever it knows of Lin comes from back
    blank.mkdir()
    cv2.imwrite(str(blank / "empty.png"), np.full((240, 320, 3), 128, np.uint8))
    log_a = tmp_path / "front.log"
    node_a = None
    try:
        # enrol on node front only: `facecam enroll` shares him at once (no daemon holds the data dir)
        r = facecam("enroll", "--config", str(cfg_a), "--data-dir", str(data_a), LIN, str(LIN_PHOTO))
        assert r.returncode == 0, r.stderr
        assert "household: 1 records of this node published" in r.stderr, r.stderr
        record_topic = f"{BASE}/front/people/{LIN}"
        wait_until(lambda: sub.on(record_topic), 10, "front's retained record of Lin")
        record = sub.on(record_topic)[-1]
        assert record.retain or len(sub.on(record_topic)) == 1
        assert PersonRecord.decode("front", LIN, record.payload, MAX).photos[0].sha256 == \
            hashlib.sha256(LIN_PHOTO.read_bytes()).hexdigest()

        with log_a.open("wb") as log:
            node_a = subprocess.Popen([sys.executable, "-m", "camera", "run", "--config", str(cfg_a), "--data-dir",
                                       str(data_a), "--source", str(blank), "--loop", "--camera", "porch"],
                                      cwd=REPO, stdout=subprocess.DEVNULL, stderr=log)
        wait_until(lambda: _log_has(log_a, "household: node front in sync"), 120, "node front's daemon in sync")

        # node back: imports Lin from the broker before it recognises, then sees him on the clip
        n_before_b = len(sub.messages)
        r = facecam("run", "--config", str(cfg_b), "--data-dir", str(data_b), "--source", str(HAMILTON),
                    "--camera", "hall", timeout=600)
        assert r.returncode == 0, r.stderr[-3000:]
        assert f"household: {LIN} from node front: 1 photos added" in r.stderr, r.stderr[-3000:]
        alerts_b = [json.loads(line) for line in (tmp_path / "back-alerts.jsonl").read_text().splitlines()]
        assert any(a["person"] == LIN and a["kind"] == "arrived" for a in alerts_b), alerts_b
        people_b = facecam("people", "--data-dir", str(data_b))
        assert people_b.stdout.startswith(f'"{LIN}"\t1 photos\t1 embeddings'), people_b.stdout
        assert not [m for m in sub.messages if m.topic.startswith(f"{BASE}/back/people/")], \
            "node back re-published a person it imported"
        sighting = Sighting.decode("back", LIN, sub.on(f"{BASE}/back/presence/{LIN}")[-1].payload)
        assert sighting.home and sighting.camera == "hall"

        # node front shows him home from back's sighting: its own MQTT presence topic and `facecam events`
        front_presence = f"facecam/front/presence/{LIN}/state"
        wait_until(lambda: [m.payload for m in sub.on(front_presence)][-1:] == [b"home"], 15,
                   "front's presence topic to say home")
        r = facecam("events", "--config", str(cfg_a), "--data-dir", str(data_a))
        assert r.returncode == 0, r.stderr
        [line] = [x for x in r.stdout.splitlines() if x.startswith(f'"{LIN}"')]
        assert "\thome since " in line and line.endswith("on hall (node back)"), line
        assert not (tmp_path / "front-alerts.jsonl").exists() or LIN not in (tmp_path / "front-alerts.jsonl").read_text()
        _report_bytes(sub.messages[n_before_b:], alerts_b, record.payload)

        # a tampered retained record (its photo does not hash to its sha256) is refused whole
        fake = _edit(_record("mallory", "obama", OBAMA_PHOTO.read_bytes()).encode(), _swap_to_lin)
        sub.client.publish(f"{BASE}/mallory/people/obama", fake, qos=1, retain=True).wait_for_publish(5)
        wait_until(lambda: _log_has(log_a, f"refused {BASE}/mallory/people/obama from node mallory: photo 0: "
                                           "sha256 mismatch"), 15, "front's warning about the tampered record")
        assert "WARNING" in next(x for x in log_a.read_text().splitlines() if "mallory/people/obama" in x)
        people_a = facecam("people", "--data-dir", str(data_a)).stdout
        assert "obama" not in people_a and people_a.startswith(f'"{LIN}"'), people_a

        # enrolled on node back while front runs: front imports him (with back's embedding: same model) and its
        # running pipeline swaps the new gallery in, without a restart
        r = facecam("enroll", "--config", str(cfg_b), "--data-dir", str(data_b), ALEX, str(ALEX_PHOTO))
        assert r.returncode == 0 and "household: 1 records of this node published" in r.stderr, r.stderr
        wait_until(lambda: _log_has(log_a, "porch: gallery updated: 2 people"), 30, "front's pipeline to take Alex")
        assert _log_has(log_a, f"household: {ALEX} from node back: 1 photos added")
        assert not _log_has(log_a, f"embedded {ALEX}/"), "front re-embedded a photo whose embedding it could use"
        assert f'"{ALEX}"\t1 photos\t1 embeddings' in facecam("people", "--data-dir", str(data_a)).stdout

        # removed on the node that enrolled him: withdrawn from the broker, then removed from node back too
        r = facecam("people", "--config", str(cfg_a), "--data-dir", str(data_a), "remove", LIN)
        assert r.returncode == 0, r.stderr
        wait_until(lambda: sub.on(record_topic)[-1].payload == b"", 15, "front to withdraw Lin's record")
        r = facecam("sync", "--config", str(cfg_b), "--data-dir", str(data_b))
        assert r.returncode == 0, r.stderr
        assert "0 records of this node published or withdrawn; 0 photos imported, 1 removed" in r.stderr, r.stderr
        r = facecam("people", "--data-dir", str(data_b))
        assert r.stdout.startswith(f'"{ALEX}"') and LIN not in r.stdout, r.stdout

        node_a.send_signal(signal.SIGTERM)
        assert node_a.wait(60) == 0, log_a.read_text()[-3000:]
        wait_until(lambda: [m.payload for m in sub.on(f"{BASE}/front/status")][-1:] == [b"offline"], 10,
                   "front offline")
    finally:
        if node_a is not None and node_a.poll() is None:
            node_a.kill()
            node_a.wait(10)
        sub.close()
        broker.stop()


def _swap_to_lin(d: dict) -> None:
    d["photos"][0]["data"] = base64.b64encode(LIN_PHOTO.read_bytes()).decode()


def _report_bytes(messages: list, alerts: list[dict], record: bytes) -> None:
    """What the broker carried for node back's run, per alert: topic + payload bytes of each kind of message
    (printed: ``pytest -s`` shows it; docs/scale-out.md quotes it)."""
    kinds = {"events": "/events", "presence (HA)": "facecam/back/presence/", "last_person": "/last_person",
             "sightings": f"{BASE}/back/presence/", "discovery": "homeassistant/", "availability": "/availability",
             "node status": f"{BASE}/back/status"}
    totals: dict[str, list[int]] = {k: [0, 0] for k in kinds}
    for m in messages:
        for kind, part in kinds.items():
            if part in m.topic:
                totals[kind][0] += 1
                totals[kind][1] += len(m.topic.encode()) + len(m.payload)
                break
    n = len(alerts)
    rows = [f"{kind}: {c} messages, {b} bytes, {b / n:.0f} bytes per alert" for kind, (c, b) in totals.items()]
    events = [len(json.dumps(a, ensure_ascii=False).encode()) for a in alerts]
    print(f"\nnode back, {n} alerts {[(a['kind'], a['person']) for a in alerts]} ({min(events)}-{max(events)} "
          "bytes of JSON each):\n  " + "\n  ".join(rows)
          + f"\nLin's person record: {len(record)} bytes for a {LIN_PHOTO.stat().st_size}-byte photo")


def test_someone_home_at_another_node_is_recognised_here_not_arrived(tmp_path: Path) -> None:
    """Arrivals are the household's: Lin is home by node front's sighting of a minute ago, so node back's
    camera names him without an ``arrived`` (the real pipeline, onnx engine, on the Hamilton clip)."""
    cfg = Config.model_validate({"cameras": {"hall": {"source": str(HAMILTON)}}})
    engines = engines_for(tmp_path)
    now = dt.datetime.now(dt.UTC)
    remote = RemoteSightings("back", cfg.presence.away_after_s)
    assert remote.update(Sighting("front", LIN, True, "porch", now - dt.timedelta(minutes=5),
                                  now - dt.timedelta(minutes=1)))
    assert not remote.update(Sighting("back", LIN, True, "hall", now, now))  # its own come from its board
    seen = MemorySink()
    with Gallery(tmp_path) as g:
        assert all(o.ok for o in enroll_photos(g, engines.enrolment(cfg.engine), LIN, [LIN_PHOTO]))
        pipeline = build_pipeline(cfg, tmp_path, g, sinks=[seen], engines=engines, household=remote)
        pipeline.run()
    kinds = [a.kind.value for a in seen.alerts if a.person == LIN]
    assert kinds and set(kinds) == {"recognised"}, kinds


def test_imported_photos_keep_their_origin_and_only_theirs_are_withdrawn(tmp_path: Path) -> None:
    """A person enrolled here and on node front is one person; front's withdrawal removes only front's photo,
    and a person who had only front's photos goes with them (the gallery on its own, real photo bytes)."""
    lin, alex = LIN_PHOTO.read_bytes(), ALEX_PHOTO.read_bytes()

    def imported(data: bytes) -> ImportedPhoto:
        return ImportedPhoto(hashlib.sha256(data).hexdigest(), data, "household node front", ".png",
                             np.linspace(0, 1, 128), "dlib_resnet_v1", (1.0, 2.0, 3.0, 4.0))

    own = OBAMA_PHOTO.read_bytes()  # any photo will do: it stands for one enrolled here
    with Gallery(tmp_path) as g:
        assert g.import_person(LIN, "front", [imported(lin)]) == (1, 0)
        assert g.import_person(LIN, "front", [imported(lin)]) == (0, 0)  # the same record again: nothing new
        g.add_photo_embedding(LIN, own, hashlib.sha256(own).hexdigest(), "own.jpg", ".jpg", np.zeros(128),
                              "dlib_resnet_v1", (0.0, 0.0, 1.0, 1.0))
        assert g.import_person(ALEX, "front", [imported(alex)]) == (1, 0)
        assert [(p.person, p.origin) for p in g.photos()] == [(LIN, "front"), (LIN, None), (ALEX, "front")]
        assert g.imported_names("front") == [ALEX, LIN]
        assert g.import_person(LIN, "front", []) == (0, 1)
        assert g.import_person(ALEX, "front", []) == (0, 1)
        assert [(p.person, p.origin) for p in g.photos()] == [(LIN, None)]
        assert [p.name for p in g.people()] == [LIN]
        assert sorted(f.name for f in (tmp_path / "photos").iterdir()) == [f"{hashlib.sha256(own).hexdigest()}.jpg"]
