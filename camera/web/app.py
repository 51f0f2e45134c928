"""The web application: the REST API under ``/api/v1``, the pages, the API reference, all served locally.

:func:`create_app` builds it from a :class:`WebContext` (the service layer,
the accounts, and in the daemon the live view and the alert feed). Every
response carries a strict Content-Security-Policy (scripts and styles from
this server only; no CDN, nothing fetched from the internet) and is never
framed. Errors are JSON ``{"detail": "..."}`` with one line that says what
to fix; a :class:`~camera.errors.NotFound` is 404, another
:class:`~camera.errors.FacecamError` 400, a model that cannot load 503.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi_swagger import resources as swagger_assets

from camera import __version__
from camera.errors import FacecamError, ModelLoadError, NotFound
from camera.service import Service
from camera.web.accounts import Accounts, LoginLimiter
from camera.web.api import router as api_router
from camera.web.config import WebConfig
from camera.web.feed import AlertSource
from camera.web.live import LiveView
from camera.web.pages import router as pages_router

log = logging.getLogger(__name__)

STATIC = Path(__file__).with_name("static")
SWAGGER_UI = Path(swagger_assets.__file__).parent  # Swagger UI 5 (Apache-2.0), shipped by fastapi-swagger (MIT)
API_PREFIX = "/api/v1"
CSP = ("default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; connect-src 'self'; "
       "frame-ancestors 'none'; base-uri 'none'; form-action 'self'")


@dataclass
class WebContext:
    """What the web app serves from: the service layer and accounts; in the daemon also the live view and the
    alerts as they happen; ``config_path``: the file "apply the recommended threshold" writes to."""

    service: Service
    accounts: Accounts
    cfg: WebConfig
    alerts: AlertSource
    live: LiveView | None = None
    config_path: Path | None = None
    limiter: LoginLimiter = field(default_factory=LoginLimiter)


#: FastAPI's built-in OpenTelemetry (0.16x and later) off, whatever the environment says: no spans, metrics or
#: logs (its logs carry exception messages, which may name people), and no exporter set up from
#: ``FASTAPI_OTEL_AUTO_CONFIGURE`` / ``OTEL_*`` variables. Nothing leaves the machine unless a sink sends it.
NO_TELEMETRY = {"tracing": False, "metrics": False, "logs": False, "operation_spans": False,
                "auto_configure": False}


def create_app(ctx: WebContext) -> FastAPI:
    """The FastAPI application for ``ctx``."""
    app = FastAPI(title="facecam", version=__version__, openapi_url=f"{API_PREFIX}/openapi.json", docs_url=None,
                  redoc_url=None, telemetry=NO_TELEMETRY, description="Local face recognition for smart-home cameras. Every route that "
                  "reads faces or changes anything needs a session (POST /api/v1/login; changes then carry the "
                  "X-CSRF-Token header) or an API token (Authorization: Bearer ..., from `facecam token create`).")
    app.state.ctx = ctx
    app.include_router(api_router, prefix=API_PREFIX)
    app.include_router(pages_router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.mount(f"{API_PREFIX}/docs/assets", StaticFiles(directory=SWAGGER_UI), name="swagger")

    @app.get(f"{API_PREFIX}/docs", include_in_schema=False)
    def api_reference() -> HTMLResponse:
        """The interactive API reference (Swagger UI, served from this server)."""
        return HTMLResponse((STATIC / "api-docs.html").read_text(encoding="utf-8"))

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> Response:
        return FileResponse(STATIC / "favicon.svg", media_type="image/svg+xml")

    @app.exception_handler(FacecamError)
    def facecam_error(request: Request, exc: FacecamError) -> JSONResponse:
        status = 404 if isinstance(exc, NotFound) else 400
        return JSONResponse({"detail": str(exc)}, status_code=status)

    @app.exception_handler(ModelLoadError)
    def model_error(request: Request, exc: ModelLoadError) -> JSONResponse:
        log.error("web: %s", exc)
        return JSONResponse({"detail": str(exc)}, status_code=503)

    @app.middleware("http")
    async def security_headers(request: Request, call_next):  # noqa: ANN202 - Starlette's signature
        response = await call_next(request)
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["Referrer-Policy"] = "no-referrer"
        if request.url.path.startswith(API_PREFIX) and "cache-control" not in response.headers:
            response.headers["Cache-Control"] = "no-store"
        return response

    return app
