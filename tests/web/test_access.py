"""Who may call what: every operation of the web app's own OpenAPI document, against the real servers.

The list of operations is read at test time from ``GET /api/v1/openapi.json``
of the running server (the daemon, ``facecam run --web``, and ``facecam
web``), so a route added later is covered without editing this file; the
only exceptions are :data:`OPEN`. Each operation is called with plausible
path parameters (an existing event, person 1, photo 1, camera ``door``,
picture ``snapshot``) and a minimal valid body built from its schema (JSON,
or multipart with a real small JPEG), so that what answers is the access
check and not the validation:

- without credentials, and with a wrong API token: 401 (pages too);
- with a session cookie but no, or a wrong, ``X-CSRF-Token``: every change 403;
- reading with a session or an API token: allowed (2xx, or 404/409 where a placeholder names nothing).

Also: the API reference is served from this server alone (and renders),
the login page's ``?next=`` leads only to this server, login rate limiting,
logout, token revocation, the session cookie's attributes, the security
headers, and that a network address without any account refuses to start. A 5xx answer or a traceback in the server's log fails any of them.
"""

from __future__ import annotations

import html.parser
import re
import subprocess
import time
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from fastapi.routing import APIRoute

from camera.events.store import EventQuery, EventStore
from camera.web import api, pages
from camera.web.auth import CSRF_HEADER, SESSION_COOKIE
from tests.conftest import AGEITGEY, HAMILTON, facecam
from tests.web.conftest import PASSWORD, USER, WebApp, free_port, start, stop

OPENAPI = "/api/v1/openapi.json"
#: the only operations anyone may call without credentials (they show no data)
OPEN = frozenset({("POST", "/api/v1/login"), ("GET", "/login"), ("GET", OPENAPI)})
CHANGES = frozenset({"POST", "PATCH", "PUT", "DELETE"})
METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE", *CHANGES})
#: path parameters by name; ``event_id`` is an existing event's, found at test time
PLACEHOLDERS: dict[str, object] = {"person_id": 1, "photo_id": 1, "camera": "door", "kind": "snapshot"}
#: what a read with valid credentials may answer besides 2xx: the placeholder names nothing (no live view in
#: ``facecam web``, no such photo) or the request does not apply
READ_MISSES = frozenset({404, 409})
SMALL_JPEG = AGEITGEY / "identities" / "obama" / "obama-240p.jpg"
WRONG_TOKEN = "fct_wrong" + "0" * 34
NAME = "access-test"


@dataclass(frozen=True)
class Operation:
    """One operation of the OpenAPI document, ready to send: method, path template, URL and body."""

    method: str
    path: str
    url: str
    json: object = None
    data: dict[str, str] = field(default_factory=dict)
    files: dict[str, tuple[str, bytes, str]] = field(default_factory=dict)

    @property
    def changes(self) -> bool:
        return self.method in CHANGES

    def __str__(self) -> str:
        return f"{self.method} {self.path}"

    def send(self, client: httpx.Client, headers: dict[str, str] | None = None) -> tuple[int, str]:
        """``(status, start of the body)``; the body is not read past its first 300 bytes (event streams)."""
        kw: dict[str, object] = {"headers": headers or {}}
        if self.files:
            kw.update(data=self.data, files=self.files)
        elif self.json is not None:
            kw["json"] = self.json
        try:
            with client.stream(self.method, self.url, **kw) as r:
                head = b""
                for chunk in r.iter_raw():
                    head += chunk
                    if len(head) >= 300 or r.headers.get("content-type", "").startswith("text/event-stream"):
                        break
                return r.status_code, head[:300].decode("utf-8", "replace")
        except httpx.TransportError as exc:  # reported as a failure of this operation, not of the whole test
            return 0, f"no answer: {type(exc).__name__}: {exc}"


# ----- the operations -------------------------------------------------------------------------------------------


def openapi(app: WebApp) -> dict:
    r = httpx.get(app.url + OPENAPI, timeout=30)
    assert r.status_code == 200, f"GET {OPENAPI} without credentials: {r.status_code} {r.text[:300]}"
    return r.json()


def operations(app: WebApp, event_id: str) -> list[Operation]:
    """Every operation of the running server's OpenAPI document."""
    doc = openapi(app)
    out = [Operation("GET", OPENAPI, OPENAPI)]
    for path, item in doc["paths"].items():
        for method, op in item.items():
            if method.upper() in METHODS:
                out.append(_operation(doc, method.upper(), path, op, event_id))
    have = {(o.method, o.path) for o in out}
    expected = {("GET", "/api/v1/events"), ("DELETE", "/api/v1/people/{person_id}"), ("POST", "/api/v1/login"),
                ("GET", "/")}
    assert expected <= have, f"the OpenAPI document lacks {sorted(expected - have)}: is it the app's?"
    return out


def _operation(doc: dict, method: str, path: str, op: dict, event_id: str) -> Operation:
    url, query = path, {}
    for p in op.get("parameters", []):
        value = PLACEHOLDERS.get(p["name"], event_id if p["name"] == "event_id" else None)
        if p["in"] == "path":
            value = value if value is not None else _example(doc, p.get("schema", {}), p["name"], event_id)
            url = url.replace("{" + p["name"] + "}", str(value))
        elif p["in"] == "query" and p.get("required"):
            query[p["name"]] = _example(doc, p.get("schema", {}), p["name"], event_id)
    if query:
        url += "?" + str(httpx.QueryParams(query))
    content = op.get("requestBody", {}).get("content", {})
    if "application/json" in content:
        return Operation(method, path, url, json=_example(doc, content["application/json"]["schema"], "", event_id))
    if "multipart/form-data" in content:
        schema = _resolve(doc, content["multipart/form-data"]["schema"])
        data, files = {}, {}
        for name, prop in schema.get("properties", {}).items():
            prop = _resolve(doc, prop)
            if _is_file(prop):
                files[name] = (SMALL_JPEG.name, SMALL_JPEG.read_bytes(), "image/jpeg")
            else:
                data[name] = str(_example(doc, prop, name, event_id))
        return Operation(method, path, url, data=data, files=files)
    assert not content, f"{method} {path}: a body of {sorted(content)}; teach this test to send one"
    return Operation(method, path, url)


def _resolve(doc: dict, schema: dict) -> dict:
    while "$ref" in schema:
        node: object = doc
        for part in schema["$ref"].removeprefix("#/").split("/"):
            node = node[part]  # type: ignore[index]
        schema = node  # type: ignore[assignment]
    return schema


def _is_file(schema: dict) -> bool:
    return schema.get("format") == "binary" or "contentMediaType" in schema or (
        schema.get("type") == "array" and _is_file(schema.get("items", {})))


def _example(doc: dict, schema: dict, name: str, event_id: str) -> object:
    """A minimal value valid for ``schema`` (only required properties), plausible for a field called ``name``."""
    schema = _resolve(doc, schema)
    for key in ("anyOf", "oneOf", "allOf"):
        if key in schema:
            options = [s for s in schema[key] if _resolve(doc, s).get("type") != "null"]
            return _example(doc, options[0], name, event_id)
    kind = schema.get("type")
    if kind == "object":
        return {k: _example(doc, v, k, event_id) for k, v in schema.get("properties", {}).items()
                if k in schema.get("required", [])}
    if kind == "array":
        return [_example(doc, schema.get("items", {}), name, event_id)] * max(int(schema.get("minItems", 1)), 1)
    if kind in ("integer", "number"):
        lo = schema.get("minimum", schema.get("exclusiveMinimum"))
        hi = schema.get("maximum", schema.get("exclusiveMaximum"))
        value = (lo + hi) / 2 if lo is not None and hi is not None else (lo + 1 if lo is not None else 1)
        return int(value) if kind == "integer" else value
    if kind == "boolean":
        return False
    if schema.get("format") == "date-time":
        return "2026-01-01T00:00:00+00:00"
    return event_id if name in ("event_id", "events") else NAME


# ----- fixtures and helpers -------------------------------------------------------------------------------------


@pytest.fixture(params=["daemon", "standalone"])
def server(request: pytest.FixtureRequest) -> WebApp:
    """Each way the web app is served: by the daemon, and by ``facecam web``."""
    return request.getfixturevalue(request.param)


def an_event(app: WebApp, timeout_s: float = 90) -> str:
    """The id of an event in the server's store, preferably one with pictures (waits for the daemon's first)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with EventStore.open_readonly(app.data) as store:
                events = store.query(EventQuery(limit=50))
        except Exception:  # no store yet: the daemon has not recorded a visit
            events = []
        if events:
            return next((e.id for e in events if e.snapshot), events[0].id)
        time.sleep(0.5)
    raise AssertionError(f"no event in {app.data} after {timeout_s} s")


def log_mark(app: WebApp) -> int:
    return server_log(app).stat().st_size


def server_log(app: WebApp) -> Path:
    return app.data / f"web-{urlsplit(app.url).port}.log"


def server_errors(app: WebApp, since: int) -> str:
    """What the server logged since ``since`` (a :func:`log_mark`) if it holds a traceback, else ``""``."""
    with server_log(app).open("rb") as f:
        f.seek(since)
        text = f.read().decode("utf-8", "replace")
    return text[-4000:] if "Traceback" in text or "Exception in ASGI" in text else ""


def report(what: str, failures: list[str], app: WebApp, mark: int) -> None:
    logged = server_errors(app, mark)
    problems = failures + ([f"the server logged a traceback:\n{logged}"] if logged else [])
    assert not problems, f"{what} ({app.url}):\n  " + "\n  ".join(problems)


# ----- every operation ------------------------------------------------------------------------------------------


def test_openapi_document_is_open_and_holds_no_data(server: WebApp) -> None:
    event_id = an_event(server)
    r = httpx.get(server.url + OPENAPI, timeout=30)
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/json")
    for secret in (event_id, "lin_manuel_miranda", "alex_lacamoire", USER, str(server.data), server.token):
        assert secret not in r.text, f"the open OpenAPI document shows {secret!r}"


@pytest.mark.parametrize("credentials", ["none", "wrong token", "wrong token beside a valid session cookie",
                                         "malformed Authorization header"])
def test_every_operation_but_the_open_ones_needs_credentials(server: WebApp, credentials: str) -> None:
    """401 without (valid) credentials, for every operation of the OpenAPI document and every page."""
    mark = log_mark(server)
    ops = [o for o in operations(server, an_event(server)) if (o.method, o.path) not in OPEN]
    headers = {"none": {}, "malformed Authorization header": {"Authorization": "Basic YWxpY2U6eA=="}}.get(
        credentials, {"Authorization": f"Bearer {WRONG_TOKEN}"})
    client, csrf = server.session() if "cookie" in credentials else (server.client(), "")
    if csrf:
        headers[CSRF_HEADER] = csrf
    failures = []
    with closing(client):
        for op in ops:
            status, body = op.send(client, headers)
            if status != 401:
                failures.append(f"{op} ({op.url}) answered {status}, expected 401: {body[:200]!r}")
    report(f"with {credentials}", failures, server, mark)


@pytest.mark.parametrize("csrf", [None, "wrong"])
def test_every_change_with_a_session_needs_the_csrf_token(server: WebApp, csrf: str | None) -> None:
    """A session cookie alone (a forged cross-site request) changes nothing: 403 for every POST/PATCH/PUT/DELETE."""
    mark = log_mark(server)
    ops = [o for o in operations(server, an_event(server)) if o.changes and (o.method, o.path) not in OPEN]
    assert ops, "the OpenAPI document has no change operation"
    client, real = server.session()
    wrong = ("x" if real[0] != "x" else "y") + real[1:]  # the right length, one character off
    headers = {} if csrf is None else {CSRF_HEADER: wrong}
    failures = []
    with closing(client):
        for op in ops:
            status, body = op.send(client, headers)
            if status != 403:
                failures.append(f"{op} ({op.url}) answered {status}, expected 403: {body[:200]!r}")
    report(f"session cookie, {'no' if csrf is None else 'a wrong'} {CSRF_HEADER}", failures, server, mark)


@pytest.mark.parametrize("via", ["session", "token"])
def test_every_read_is_allowed_with_credentials(server: WebApp, via: str) -> None:
    """GET operations answer 2xx with a session or an API token (404/409 where a placeholder names nothing)."""
    mark = log_mark(server)
    ops = [o for o in operations(server, an_event(server)) if o.method == "GET"]
    client = server.session()[0] if via == "session" else server.bearer()
    pages_need_a_session = via == "token"
    failures = []
    with closing(client):
        for op in ops:
            status, body = op.send(client)
            is_page = not op.path.startswith("/api/")
            if is_page and pages_need_a_session and (op.method, op.path) not in OPEN:
                ok = status == 401  # pages are for browsers: a token alone shows the login form
            else:
                ok = 200 <= status < 300 or status in READ_MISSES
            if not ok:
                failures.append(f"{op} ({op.url}) answered {status}: {body[:200]!r}")
    report(f"reads with a {via}", failures, server, mark)


def test_no_route_hides_from_the_openapi_document() -> None:
    """The access tests above see only what the OpenAPI document lists: no API route or page may leave it."""
    hidden = [f"{sorted(r.methods)} {r.path}" for router in (api.router, pages.router) for r in router.routes
              if isinstance(r, APIRoute) and not r.include_in_schema]
    assert not hidden, f"routes left out of the OpenAPI document escape the access tests: {hidden}"


# ----- the API reference ----------------------------------------------------------------------------------------


class _Links(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.urls += [v for k, v in attrs if k in ("src", "href", "action", "srcset", "data", "poster") and v]


def test_api_reference_is_served_from_this_server_alone(server: WebApp) -> None:
    """``/api/v1/docs`` (open: it holds no data) references only this server; each of its files is served."""
    r = httpx.get(server.url + "/api/v1/docs", timeout=30)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html"), r.text[:300]
    parser = _Links()
    parser.feed(r.text)
    urls = parser.urls + re.findall(r"url\(\s*['\"]?([^'\")]+)", r.text)
    assert urls, "the API reference page loads no script"
    here = urlsplit(server.url).netloc
    for u in urls:
        parts = urlsplit(u)
        assert parts.netloc in ("", here) and parts.scheme in ("", "http"), f"the API reference loads {u}"
        assert httpx.get(httpx.URL(server.url).join(u), timeout=30).status_code == 200, f"{u} is not served"


def test_api_reference_renders_in_a_browser_without_another_host(daemon: WebApp) -> None:
    """In a browser, under a host name that is not loopback (Swagger UI's validator badge only shows on one),
    the reference makes no request to another host, the page's CSP blocks nothing, and it renders the API."""
    if not Path("/usr/bin/chromium").is_file():
        pytest.skip("needs Chromium at /usr/bin/chromium (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    port = urlsplit(daemon.url).port
    host = "facecam.test"
    args = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run",
            f"--host-resolver-rules=MAP {host} 127.0.0.1"]
    requests: list[str] = []
    blocked: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=args)
        try:
            page = browser.new_page()
            page.on("request", lambda req: requests.append(req.url))
            page.on("console", lambda m: blocked.append(m.text) if "Content Security Policy" in m.text else None)
            page.goto(f"http://{host}:{port}/api/v1/docs", wait_until="networkidle")
            failed = ".version-pragma, .errors-wrapper, .loading-container .errors"  # Swagger UI's "cannot render"
            page.wait_for_selector(f".opblock, {failed}", timeout=30_000)
            errors = page.locator(failed)
            rendered = page.locator(".opblock").count()
            problem = errors.first.inner_text() if errors.count() else ""
            page.wait_for_timeout(1000)
        finally:
            browser.close()
    elsewhere = [u for u in requests if urlsplit(u).netloc != f"{host}:{port}" and not u.startswith("data:")]
    assert not elsewhere, f"the API reference requested other hosts: {elsewhere}"
    assert not blocked, f"the API reference tried what its CSP forbids: {blocked}"
    assert rendered and not problem, f"the API reference does not render the OpenAPI document: {problem!r}"


# ----- the login page's ?next= ----------------------------------------------------------------------------------


class _LoginForm(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.next: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "form" and ("id", "login") in attrs:
            self.next = dict(attrs).get("data-next")


def _as_a_browser_resolves(base: str, ref: str) -> str:
    """Where a browser goes for ``location.assign(ref)`` on ``base`` (the WHATWG URL parser's quirks that
    matter here: C0 controls and spaces trimmed, tabs and newlines removed anywhere, ``\\`` read as ``/``)."""
    ref = re.sub(r"[\t\n\r]", "", ref.strip("".join(map(chr, range(0x21))))).replace("\\", "/")
    return str(httpx.URL(base).join(ref)) if not ref.startswith("//") else f"http:{ref}"


@pytest.mark.parametrize("target", ["//evil.test/x", "/\\evil.test/x", "/\t/evil.test/x", "/\n/evil.test/x",
                                    "/\r/evil.test/x", " //evil.test/x", "https://evil.test/x"])
def test_login_page_sends_back_only_to_this_server(server: WebApp, target: str) -> None:
    """After logging in, the login page goes to its ``?next=``: a link to the real login page must not
    send a freshly logged-in user to another site (an open redirect, for phishing)."""
    r = httpx.get(server.url + "/login", params={"next": target}, timeout=30)
    assert r.status_code == 200, r.text[:300]
    form = _LoginForm()
    form.feed(r.text)
    assert form.next is not None, "the login page has no form#login[data-next]"
    lands = _as_a_browser_resolves(server.url + "/login", form.next)
    assert httpx.URL(lands).netloc.decode() == urlsplit(server.url).netloc, (
        f"?next={target!r} becomes data-next={form.next!r}, which a browser follows to {lands}")


def test_login_page_keeps_a_local_next(server: WebApp) -> None:
    r = httpx.get(server.url + "/login", params={"next": "/events?person=x"}, timeout=30)
    form = _LoginForm()
    form.feed(r.text)
    assert form.next == "/events?person=x"


# ----- sessions, tokens, login limits ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def lockable(tmp_path_factory: pytest.TempPathFactory):
    """``facecam web`` of its own, with accounts ``bob`` and ``carol``: locking logins out here (60 s, per
    address and per account) cannot disturb the other tests' servers."""
    data = tmp_path_factory.mktemp("lockable") / "data"
    for name in ("bob", "carol"):
        r = facecam("user", "add", name, "--data-dir", str(data), "--password-stdin", input=PASSWORD + "\n")
        assert r.returncode == 0, r.stderr
    port = free_port()
    app = start(["web", "--data-dir", str(data), "--web", f"127.0.0.1:{port}"], data, "", port)
    yield app
    stop(app)


def _from(address: str, app: WebApp) -> httpx.Client:
    return httpx.Client(base_url=app.url, timeout=30, transport=httpx.HTTPTransport(local_address=address))


def test_login_is_rate_limited_per_account(lockable: WebApp) -> None:
    """After 5 wrong passwords for one account, the 6th try within a minute is 429 with Retry-After, even
    with the right password and from another address; another account from another address still logs in."""
    mark = log_mark(lockable)
    with _from("127.0.0.1", lockable) as c:
        for i in range(5):
            r = c.post("/api/v1/login", json={"user": "bob", "password": f"wrong password {i}"})
            assert r.status_code == 401, f"try {i + 1}: {r.status_code} {r.text}"
        r = c.post("/api/v1/login", json={"user": "bob", "password": PASSWORD})
        assert r.status_code == 429, f"6th try with the right password: {r.status_code} {r.text}"
        assert 1 <= int(r.headers["Retry-After"]) <= 61, r.headers.get("Retry-After")
        assert SESSION_COOKIE not in r.cookies
    with _from("127.0.0.2", lockable) as c:
        r = c.post("/api/v1/login", json={"user": "bob", "password": PASSWORD})
        assert r.status_code == 429 and "Retry-After" in r.headers, f"bob from elsewhere: {r.status_code} {r.text}"
    with _from("127.0.0.3", lockable) as c:
        r = c.post("/api/v1/login", json={"user": "carol", "password": PASSWORD})
        assert r.status_code == 200, f"carol from another address: {r.status_code} {r.text}"
    report("login limits", [], lockable, mark)


def test_logout_ends_the_session(server: WebApp) -> None:
    mark = log_mark(server)
    client, csrf = server.session()
    with closing(client):
        sid = client.cookies[SESSION_COOKIE]
        assert client.get("/api/v1/me").status_code == 200
        r = client.post("/api/v1/logout", headers={CSRF_HEADER: csrf})
        assert r.status_code == 200, r.text
        assert SESSION_COOKIE not in client.cookies, "logout left the session cookie in the browser"
    with httpx.Client(base_url=server.url, timeout=30, cookies={SESSION_COOKIE: sid}) as old:
        assert old.get("/api/v1/me").status_code == 401, "the session still works after logout"
        assert old.get("/").status_code == 401, "a page still opens after logout"
        r = old.post(f"/api/v1/events/{an_event(server)}/dismiss", headers={CSRF_HEADER: csrf})
        assert r.status_code == 401, f"a change after logout: {r.status_code} {r.text}"
    report("logout", [], server, mark)


def test_revoked_token_stops_working(server: WebApp) -> None:
    r = facecam("token", "create", "--user", USER, "--label", "revoke-test", "--data-dir", str(server.data))
    assert r.returncode == 0, r.stderr
    secret = r.stdout.strip()
    token_id = re.search(r"token (\S+) for", r.stderr)
    assert token_id, r.stderr
    bearer = {"Authorization": f"Bearer {secret}"}
    assert httpx.get(server.url + "/api/v1/me", headers=bearer, timeout=30).status_code == 200
    r = facecam("token", "revoke", token_id[1], "--data-dir", str(server.data))
    assert r.returncode == 0, r.stderr
    assert httpx.get(server.url + "/api/v1/me", headers=bearer, timeout=30).status_code == 401
    assert httpx.get(server.url + "/api/v1/events", headers=bearer, timeout=30).status_code == 401
    with server.bearer() as other:
        assert other.get("/api/v1/me").status_code == 200, "revoking one token revoked another"


def test_session_cookie_attributes(server: WebApp) -> None:
    r = httpx.post(server.url + "/api/v1/login", json={"user": USER, "password": PASSWORD}, timeout=30)
    assert r.status_code == 200, r.text
    cookies = [h for h in r.headers.get_list("set-cookie") if h.startswith(f"{SESSION_COOKIE}=")]
    assert len(cookies) == 1, r.headers.get_list("set-cookie")
    attrs = {a.strip().partition("=")[0].lower(): a.strip().partition("=")[2] for a in cookies[0].split(";")[1:]}
    assert "httponly" in attrs, cookies[0]
    assert attrs.get("samesite", "").lower() == "strict", cookies[0]
    assert attrs.get("path") == "/", cookies[0]
    assert "domain" not in attrs, cookies[0]


def test_security_headers_on_pages_and_api_answers(server: WebApp) -> None:
    client, _csrf = server.session()
    with closing(client):
        answers = {"page /": client.get("/"), "API /api/v1/me": client.get("/api/v1/me"),
                   "login page": httpx.get(server.url + "/login", timeout=30),
                   "API 401": httpx.get(server.url + "/api/v1/events", timeout=30),
                   "page 401": httpx.get(server.url + "/", timeout=30),
                   "API reference": httpx.get(server.url + "/api/v1/docs", timeout=30)}
    for what, r in answers.items():
        assert r.status_code < 500, f"{what}: {r.status_code}"
        csp = r.headers.get("content-security-policy", "")
        assert "default-src" in csp and "'unsafe-inline'" not in csp, f"{what}: CSP {csp!r}"
        assert "frame-ancestors 'none'" in csp, f"{what}: CSP {csp!r}"
        assert r.headers.get("x-frame-options") == "DENY", f"{what}: {r.headers.get('x-frame-options')!r}"
        assert r.headers.get("x-content-type-options") == "nosniff", what


# ----- start-up -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["run", "web"])
def test_network_address_without_an_account_refuses_to_start(command: str, tmp_path: Path) -> None:
    """Listening on 0.0.0.0 with no account would put a login page guarding nothing on the network."""
    data = tmp_path / "data"
    args = [command, "--data-dir", str(data), "--web", f"0.0.0.0:{free_port()}"]
    if command == "run":
        args += ["--source", str(HAMILTON), "--camera", "door"]
    try:
        r = facecam(*args, timeout=120)
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"facecam {command} --web 0.0.0.0:PORT started without any account: {exc.stderr!r}")
    errors = [line for line in r.stderr.splitlines() if line.startswith("facecam: error:")]
    assert r.returncode == 2, f"exit {r.returncode}: {r.stderr[-2000:]}"
    assert len(errors) == 1, r.stderr
    assert "account" in errors[0], errors[0]
    assert "Traceback" not in r.stderr, r.stderr
