"""The pages in a real browser (Playwright, Debian's Chromium) against a real daemon on the looped hamilton clip.

Each test saves a screenshot of its page to ``$FACECAM_ARTIFACTS`` (default ``tests/web/artifacts/``). Every
page is watched for JavaScript errors, Content-Security-Policy refusals and dialogs (a dialog would mean a name
ran as code): any of them fails the test. Without Chromium the tests fail and say how to install it.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright
from playwright.sync_api import Error as PlaywrightError

from tests.conftest import AGEITGEY, HAMILTON, WITH_STRANGERS, facecam
from tests.web.conftest import PASSWORD, USER, WebApp

CHROMIUM = Path(os.environ.get("FACECAM_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
ARTIFACTS = Path(os.environ.get("FACECAM_ARTIFACTS") or Path(__file__).with_name("artifacts"))
HOSTILE = "<script>alert(1)</script>"
#: the clip shows lin_manuel_miranda in frames 0-19 and 82-210 of each 275-frame (9.2 s) pass
LIVE_WAIT_S = 60


@dataclass
class Watch:
    """What a page did that it must not: dialogs, uncaught script errors, CSP refusals."""

    dialogs: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def check(self) -> None:
        assert not self.dialogs, f"a dialog opened (a name ran as code?): {self.dialogs}"
        assert not self.errors, f"script errors or CSP refusals: {self.errors}"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.is_file():
        pytest.fail(f"Chromium is missing at {CHROMIUM}: the browser tests need Debian's chromium "
                    "(`scripts/setup.sh --test`, or `apt-get install chromium`; or set FACECAM_CHROMIUM)")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield b
        b.close()


def new_page(browser: Browser, app: WebApp, login: bool = True, **context: object) -> tuple[BrowserContext, Page,
                                                                                               Watch]:
    """A fresh browser context on ``app`` (logged in as the test user unless ``login`` is False)."""
    ctx = browser.new_context(base_url=app.url, **context)
    ctx.set_default_timeout(15_000)
    if login:
        r = ctx.request.post("/api/v1/login", data={"user": USER, "password": PASSWORD})
        assert r.ok, r.text()
    page = ctx.new_page()
    watch = Watch()

    def on_dialog(d) -> None:  # noqa: ANN001 - playwright's Dialog
        watch.dialogs.append(f"{d.type}: {d.message}")
        d.dismiss()

    def on_console(m) -> None:  # noqa: ANN001 - playwright's ConsoleMessage
        if m.type == "error" and ("Content Security Policy" in m.text or "Refused to" in m.text):
            watch.errors.append(m.text)

    page.on("dialog", on_dialog)
    page.on("pageerror", lambda e: watch.errors.append(f"uncaught: {e}"))
    page.on("console", on_console)
    return ctx, page, watch


@pytest.fixture
def daemon_page(browser: Browser, daemon: WebApp) -> Iterator[tuple[Page, Watch]]:
    ctx, page, watch = new_page(browser, daemon)
    yield page, watch
    ctx.close()


def shot(page: Page, name: str) -> None:
    """Save the page, once the pictures in view have loaded (lazy ones further down may stay grey)."""
    with contextlib.suppress(PlaywrightError):  # a screenshot with a picture still loading is still worth keeping
        page.wait_for_function("() => [...document.images].filter((i) => i.loading !== 'lazy' ||"
                               " i.getBoundingClientRect().top < innerHeight).every((i) => i.complete)", timeout=5000)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def wait_for(what: str, check, timeout_s: float = 60, every_s: float = 0.5):  # noqa: ANN001, ANN201
    """Poll ``check()`` until it returns something truthy; fail saying ``what`` was awaited."""
    deadline = time.monotonic() + timeout_s
    while True:
        got = check()
        if got:
            return got
        if time.monotonic() > deadline:
            pytest.fail(f"waited {timeout_s:.0f} s for {what}")
        time.sleep(every_s)


def images_loaded(page: Page, selector: str) -> bool:
    """Whether every image matched by ``selector`` has loaded a picture (naturalWidth > 0)."""
    return page.evaluate("(sel) => { const imgs = [...document.querySelectorAll(sel)];"
                         " return imgs.length > 0 && imgs.every((i) => i.complete && i.naturalWidth > 0); }", selector)


def inline_scripts(page: Page) -> list[str]:
    """Script elements that are not this server's script files (an injected name would be one)."""
    return page.evaluate("() => [...document.scripts].filter((s) => !/^\\/static\\/[a-z]+\\.js$/"
                         ".test(s.getAttribute('src') || '')).map((s) => s.outerHTML)")


# ----- the tests ------------------------------------------------------------------------------------------------


def test_login_shows_the_error_then_reaches_home(browser: Browser, daemon: WebApp) -> None:
    ctx, page, watch = new_page(browser, daemon, login=False)
    r = page.goto("/")
    assert r is not None and r.status == 401
    expect(page.locator("h1")).to_have_text("Log in")
    page.fill('input[name="user"]', USER)
    page.fill('input[name="password"]', "not the password")
    page.click('button[type="submit"]')
    expect(page.locator("#login .error")).to_have_text("wrong account name or password")
    shot(page, "login-error")
    page.fill('input[name="password"]', PASSWORD)
    page.click('button[type="submit"]')
    expect(page.locator("h1")).to_have_text("Home")
    assert page.url.rstrip("/") == daemon.url
    expect(page.locator("nav .who")).to_contain_text(USER)
    expect(page.locator("#cameras")).to_contain_text("door")
    shot(page, "home-first")
    # the daemon runs and its camera is up (right after its start, before its first counters, it reads as down)
    wait_for("home without a banner", lambda: page.reload() and page.locator(".banner").count() == 0, 30, 1)
    expect(page.locator("#presence")).to_contain_text("lin_manuel_miranda")
    shot(page, "home")
    page.set_viewport_size({"width": 390, "height": 844})  # a phone
    shot(page, "home-phone")
    watch.check()
    ctx.close()


def test_live_draws_the_name_over_the_frame(browser: Browser, daemon_page: tuple[Page, Watch],
                                            standalone: WebApp) -> None:
    page, watch = daemon_page
    page.goto("/live")

    def lin_drawn() -> dict | None:
        got = page.evaluate("""() => {
            const img = document.querySelector('[data-live-camera="door"] img');
            const r = img.getBoundingClientRect();
            const boxes = [...document.querySelectorAll('[data-live-camera="door"] .box')].map((b) => {
                const br = b.getBoundingClientRect();
                return {name: b.querySelector('.name').textContent, label: b.querySelector('.label').textContent,
                        x: br.x, y: br.y, w: br.width, h: br.height};
            });
            return {loaded: img.complete && img.naturalWidth > 0, nw: img.naturalWidth, nh: img.naturalHeight,
                    x: r.x, y: r.y, w: r.width, h: r.height, boxes};
        }""")
        return got if got["loaded"] and any(b["name"] == "lin_manuel_miranda" for b in got["boxes"]) else None

    got = wait_for("lin_manuel_miranda drawn over the live frame", lin_drawn, LIVE_WAIT_S, 0.2)
    shot(page, "live")
    assert (got["nw"], got["nh"]) == (640, 360)
    assert got["w"] > 0 and abs(got["w"] / got["h"] - 640 / 360) < 0.02, got  # scaled, not stretched
    lin = next(b for b in got["boxes"] if b["name"] == "lin_manuel_miranda")
    assert got["x"] - 1 <= lin["x"] and lin["x"] + lin["w"] <= got["x"] + got["w"] + 1, (lin, got)
    assert got["y"] - 1 <= lin["y"] and lin["y"] + lin["h"] <= got["y"] + got["h"] + 1, (lin, got)
    assert re.fullmatch(r"lin_manuel_miranda \d\.\d\d", lin["label"]), lin  # name and distance, as text
    expect(page.locator('[data-live-camera="door"] [data-counter="fps"]')).not_to_have_text("–")
    expect(page.locator('[data-live-camera="door"] [data-counter="dropped"]')).to_have_text(re.compile(r"^\d+$"))
    watch.check()

    ctx, page, watch = new_page(browser, standalone)  # `facecam web`: no daemon in this process, no live view
    page.goto("/live")
    expect(page.locator("#no-live")).to_contain_text("facecam run --web")
    expect(page.locator("[data-live-camera]")).to_have_count(0)
    shot(page, "live-standalone")
    watch.check()
    ctx.close()


def test_events_list_pictures_and_filter_unknown(daemon_page: tuple[Page, Watch], daemon: WebApp) -> None:
    page, watch = daemon_page
    with daemon.bearer() as api:
        wait_for("an unknown visit and a visit of lin_manuel_miranda",
                 lambda: api.get("/api/v1/events", params={"unknown": True, "limit": 1}).json()["events"] and
                 api.get("/api/v1/events", params={"person": "lin_manuel_miranda", "limit": 1}).json()["events"])
    page.goto("/events?limit=200")
    rows = page.locator(".event-row")
    expect(rows.first).to_be_visible()
    everyone = rows.evaluate_all("rs => rs.map((r) => r.dataset.person)")
    assert "unknown" in everyone and "lin_manuel_miranda" in everyone, everyone
    page.wait_for_function("() => [...document.querySelectorAll('.event-row')].slice(0, 3).every((r) =>"
                           " [...r.querySelectorAll('img')].length === 2 &&"
                           " [...r.querySelectorAll('img')].every((i) => i.complete && i.naturalWidth > 0))")
    shot(page, "events")

    page.check('input[name="unknown"]')
    page.click('.filters button[type="submit"]')
    page.wait_for_url(re.compile(r"unknown=1"))
    assert "person=" not in page.url  # empty filters stay out of the address
    expect(rows.first).to_be_visible()
    unknown = rows.evaluate_all("rs => rs.map((r) => r.dataset.person)")
    assert set(unknown) == {"unknown"}, unknown
    expect(page.locator('input[name="unknown"]')).to_be_checked()
    shot(page, "events-unknown")

    # the event page: pictures, faces, decision, answers (of a visit whose faces are stored: a visit still
    # open has none yet)
    with daemon.bearer() as api:
        ids = rows.evaluate_all("rs => rs.map((r) => r.dataset.event)")
        shown = next(i for i in ids if api.get(f"/api/v1/events/{i}").json()["faces"])
    page.locator(f'.event-row[data-event="{shown}"] a').click()
    expect(page.locator("h1")).to_have_text("Visit of unknown")
    expect(page.locator("#faces tbody tr").first).to_be_visible()
    expect(page.locator("#decision")).to_contain_text("Votes")
    page.wait_for_function("() => [...document.querySelectorAll('.event-pictures img')].every((i) =>"
                           " i.complete && i.naturalWidth > 0)")
    page.click('form[data-answer="dismiss"] button')
    expect(page.locator("#flash")).to_contain_text("Dismissed")
    expect(page.locator("#decision")).to_contain_text("dismissed")
    shot(page, "event")
    watch.check()


def test_review_names_a_visit_and_the_next_run_knows_them(daemon_page: tuple[Page, Watch], daemon: WebApp,
                                                          tmp_path: Path) -> None:
    page, watch = daemon_page
    page.goto("/review")
    expect(page.locator("[data-group]").first).to_be_visible()
    shot(page, "review")
    tried: set[str] = set()
    labelled = None
    while labelled is None:  # one visit at a time: a crop with two faces is refused, then try another
        ids = page.locator("[data-visit]").evaluate_all("ls => ls.map((l) => l.dataset.visit)")
        left = [i for i in ids if i not in tried]
        assert left, f"no visit's face could be enrolled: {page.locator('.result').all_text_contents()}"
        visit = left[0]
        tried.add(visit)
        group = page.locator("[data-group]").filter(has=page.locator(f'[data-visit="{visit}"]'))
        more = group.locator("details.more-visits:not([open]) summary")
        if more.count():  # a big group (the looped clip keeps adding visits) shows its first 40: open the rest
            more.click()
        for box in group.locator('input[name="event"]').all():
            box.set_checked(box.get_attribute("value") == visit)
        group.locator('input[name="name"]').fill("visitor_one")
        expect(group.locator('[data-do="label"]')).to_have_text("These are visitor_one")
        group.locator('[data-do="label"]').click()
        page.wait_for_function("(v) => !document.querySelector(`[data-visit=\"${v}\"]`) ||"
                               " [...document.querySelectorAll('.result.error')].some((r) => !r.hidden)", arg=visit)
        if page.locator(f'[data-visit="{visit}"]').count() == 0:
            labelled = visit
        else:
            group.locator(".result").evaluate("r => { r.hidden = true; r.classList.remove('error'); }")
    shot(page, "review-labelled")
    with daemon.bearer() as api:
        assert api.get(f"/api/v1/events/{labelled}").json()["person"] == "visitor_one"
        people = {p["name"]: p for p in api.get("/api/v1/people").json()}
        assert people["visitor_one"]["photos"] == 1

    # dismissing a whole group makes it disappear
    groups = page.locator("[data-group]")
    before = groups.count()
    if before:
        last = groups.nth(before - 1)
        for box in last.locator('input[name="event"]').all():
            box.check()  # (the visits left unchecked above, if this is that group)
        last.locator('[data-do="dismiss"]').click()
        expect(groups).to_have_count(before - 1)
        expect(page.locator("#flash")).to_contain_text("dismissed")
    watch.check()

    # the daemon's gallery was read at its start: a new run, on a copy of the gallery, names visitor_one
    copy = tmp_path / "data"
    copy.mkdir()
    shutil.copytree(daemon.data / "photos", copy / "photos")
    with sqlite3.connect(daemon.data / "gallery.sqlite3") as src, sqlite3.connect(copy / "gallery.sqlite3") as dst:
        src.backup(dst)
    alerts = tmp_path / "alerts.jsonl"
    r = facecam("run", "--data-dir", str(copy), "--source", str(HAMILTON), *WITH_STRANGERS, "--jsonl", str(alerts),
                timeout=180)
    assert r.returncode == 0, r.stderr[-3000:]
    named = [json.loads(line)["person"] for line in alerts.read_text().splitlines()]
    assert "visitor_one" in named, named


def test_people_upload_enrols_a_photo_and_shows_refusals(daemon_page: tuple[Page, Watch], daemon: WebApp) -> None:
    page, watch = daemon_page
    with daemon.bearer() as api:  # the daemon is shared with other test files: pick a name nobody has yet
        taken = {p["name"] for p in api.get("/api/v1/people").json()}
    name = next(n for n in ("obama", *(f"obama {k}" for k in range(2, 100))) if n not in taken)
    page.goto("/people")
    expect(page.locator("#people")).to_contain_text("lin_manuel_miranda")
    form = page.locator("#new-person")
    form.locator('input[name="name"]').fill(name)
    form.locator('input[name="photo"]').set_input_files(AGEITGEY / "identities" / "obama" / "obama-480p.jpg")
    form.locator('button[type="submit"]').click()
    page.wait_for_url(re.compile(r"/people/\d+$"))
    expect(page.locator("h1")).to_have_text(name)
    expect(page.locator("#flash")).to_have_text(f"{name}: enrolled.")
    expect(page.locator(".photo")).to_have_count(1)
    page.wait_for_function("() => { const i = document.querySelector('.photo img');"
                           " return i && i.complete && i.naturalWidth > 0; }")
    expect(page.locator(".photo")).to_contain_text("quality")
    shot(page, "person")

    add = page.locator("#add-photos")
    add.locator('input[name="photo"]').set_input_files(
        files=[{"name": "notes.jpg", "mimeType": "image/jpeg", "buffer": b"shopping list: milk, eggs\n"}])
    add.locator('button[type="submit"]').click()
    expect(add.locator(".result")).to_have_text("notes.jpg: not an image file (unrecognised format)")
    shot(page, "person-refused")
    person_id = page.url.rsplit("/", 1)[-1]
    with daemon.bearer() as api:
        assert len(api.get(f"/api/v1/people/{person_id}").json()["photos"]) == 1

    page.goto("/people")
    expect(page.locator(f'#people tr[data-person="{person_id}"] td').nth(1)).to_have_text("1")
    form.locator('input[name="name"]').fill("nobody")
    form.locator('input[name="photo"]').set_input_files(
        files=[{"name": "empty.jpg", "mimeType": "image/jpeg", "buffer": b""}])
    form.locator('button[type="submit"]').click()
    expect(form.locator(".result")).to_contain_text("the file is empty")
    shot(page, "people-refused")
    with daemon.bearer() as api:
        assert "nobody" not in {p["name"] for p in api.get("/api/v1/people").json()}
    watch.check()


def test_a_hostile_name_is_only_ever_text(daemon_page: tuple[Page, Watch], daemon: WebApp) -> None:
    page, watch = daemon_page
    photo = AGEITGEY / "knn_examples" / "train" / "biden" / "biden.jpg"
    with daemon.bearer() as api:
        r = api.post("/api/v1/people", data={"name": HOSTILE},
                     files={"photo": ("biden.jpg", photo.read_bytes(), "image/jpeg")})
        assert r.status_code == 201, r.text
        person_id = next(p["id"] for p in api.get("/api/v1/people").json() if p["name"] == HOSTILE)
        unknown = [e["id"] for e in api.get("/api/v1/events", params={"unknown": True, "limit": 50}).json()["events"]
                   if e["crop"]]

    page.goto("/people")
    expect(page.get_by_role("link", name=HOSTILE, exact=True)).to_be_visible()
    assert inline_scripts(page) == []
    shot(page, "hostile-people")
    page.get_by_role("link", name=HOSTILE, exact=True).click()
    expect(page.locator("h1")).to_have_text(HOSTILE)
    assert page.title() == f"{HOSTILE} · facecam"
    expect(page.locator("#remove-person")).to_have_text(f"Remove {HOSTILE}")
    assert inline_scripts(page) == []
    shot(page, "hostile-person")

    for event_id in unknown:  # label a visit with it on the event page (a crop with two faces is refused)
        page.goto(f"/events/{event_id}")
        page.fill('form[data-answer="label"] input[name="name"]', HOSTILE)
        expect(page.locator('form[data-answer="label"] button')).to_have_text(f"This is {HOSTILE}")
        page.click('form[data-answer="label"] button')
        expect(page.locator("#flash:not([hidden]), #answers .result:not([hidden])").first).to_be_visible()
        if page.locator("#flash").is_visible():
            break
    else:
        pytest.fail(f"no unknown visit could be labelled: {page.locator('#answers .result').text_content()}")
    expect(page.locator("h1")).to_have_text(f"Visit of {HOSTILE}")
    expect(page.locator("#flash")).to_have_text(f"This face is now enrolled as {HOSTILE}.")
    assert inline_scripts(page) == []
    shot(page, "hostile-event")

    page.goto("/events?limit=200")
    expect(page.locator(f'.event-row[data-event="{event_id}"] .who-name')).to_have_text(HOSTILE)
    page.fill('input[name="person"]', HOSTILE)
    page.click('.filters button[type="submit"]')
    expect(page.locator(".event-row .who-name").first).to_have_text(HOSTILE)
    assert set(page.locator(".event-row .who-name").all_text_contents()) == {HOSTILE}
    assert inline_scripts(page) == []
    shot(page, "hostile-events")
    for path in ("/", "/review", f"/people/{person_id}", "/settings"):
        page.goto(path)
        assert inline_scripts(page) == [], path
    watch.check()


def test_settings_show_the_config_and_the_recommendation(daemon_page: tuple[Page, Watch]) -> None:
    page, watch = daemon_page
    page.goto("/settings")
    expect(page.locator("#in-use")).to_have_text(re.compile(r"^0\.\d+$"))
    expect(page.locator("#config")).to_contain_text("[web]")
    expect(page.locator("#config")).to_contain_text("live_fps")
    expect(page.locator("#recommendation .rec-text")).to_contain_text("max_distance", timeout=60_000)
    page.click("#apply-threshold")  # the test daemon has no config file: the API says so, the page shows it
    expect(page.locator("#recommendation .result")).to_contain_text("without a config file")
    shot(page, "settings")
    watch.check()
