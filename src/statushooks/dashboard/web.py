"""The dashboard (``/dashboard``) and the customer portal (``/portal``): two small ASGI apps
mounted after every API route, so the API's routes never pass through them.

Pages are server-rendered (Jinja2); forms post urlencoded bodies with a CSRF token and answer
with a redirect (post/redirect/get); htmx refreshes a few panels in place.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, urlencode, urlsplit

import jinja2
from fastapi import APIRouter, Depends, FastAPI, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from markupsafe import Markup
from starlette.exceptions import HTTPException as StarletteHTTPException

from statushooks import __version__, exceptions, service
from statushooks.dashboard import auth, charts, colours, views
from statushooks.dashboard.auth import (
    ElsewhereError,
    ForbiddenError,
    LoginRequiredError,
    Viewer,
    first,
)
from statushooks.dashboard.sessions import (
    SESSION_TTL,
    Role,
    Signer,
    admin_digest,
    key_credential,
    same_token,
    secret_of,
)
from statushooks.deliveries import DeliveryState
from statushooks.endpoints import EndpointState
from statushooks.events import catalog
from statushooks.messages import MessageStatus

STATIC_DIR = Path(__file__).parent / "static"
TEMPLATES_DIR = Path(__file__).parent / "templates"
STATIC_PATH = "/dashboard/static"
ServiceGetter = Callable[[], service.Service]
#: The notices a redirect may ask a page to show (``?done=``): fixed texts, never echoed input.
NOTICES = {
    "created": "Endpoint created.",
    "test-sent": "Test event queued: it appears below within seconds.",
    "paused": "Endpoint paused: new deliveries wait until you resume it.",
    "active": "Endpoint resumed.",
    "disabled": "Endpoint disabled.",
    "recovered": "Failed deliveries queued again.",
    "rotated": "Secret rotated: the old one keeps signing for 24 hours.",
    "filters": "Filters saved.",
    "retried": "Delivery queued again.",
}
STATUS_OF_ERROR = {
    exceptions.ValidationError: 400,
    exceptions.NotFoundError: 404,
    exceptions.ConflictError: 409,
}


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["when"] = _when
    env.filters["ms"] = _ms
    env.filters["pct"] = _pct
    env.filters["count"] = _count
    env.globals["version"] = __version__
    env.globals["static"] = STATIC_PATH
    env.globals["cap"] = views.COUNT_CAP
    return env


def _when(value: datetime | None) -> str:
    return "—" if value is None else value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _ms(value: float | None) -> str:
    return "—" if value is None else f"{value:,.0f} ms" if value >= 10 else f"{value:.1f} ms"


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f} %"


def _count(value: int) -> str:
    return f"{views.COUNT_CAP:,}+" if value > views.COUNT_CAP else f"{value:,}"


class Pages:
    """Renders templates with the headers every page carries."""

    def __init__(self) -> None:
        self.env = _environment()

    def render(
        self,
        request: Request,
        template: str,
        viewer: Viewer | None,
        *,
        status_code: int = 200,
        **context: Any,
    ) -> HTMLResponse:
        nonce = secrets.token_urlsafe(16)
        accent = (viewer.portal.accent_color if viewer else None) or "#1d4ed8"
        done = request.query_params.get("done")
        html = self.env.get_template(template).render(
            request=request,
            viewer=viewer,
            nonce=nonce,
            accent=accent,
            on_accent=colours.on_accent(accent),
            accent_text=colours.accent_text(accent),
            notice=NOTICES.get(done or ""),
            **context,
        )
        response = HTMLResponse(html, status_code=status_code)
        response.headers.update(security_headers(viewer, nonce))
        return response


def security_headers(viewer: Viewer | None, nonce: str) -> dict[str, str]:
    """CSP (scripts and styles from the package only), no referrer (a portal link is in the
    URL), no caching; the portal may be framed by the account's listed origins only."""
    images = "'self' data:"
    ancestors = "'none'"
    if viewer is not None and viewer.in_portal:
        ancestors = " ".join(viewer.portal.frame_ancestors) or "'none'"
    if viewer is not None and viewer.portal.logo_url:
        parts = urlsplit(viewer.portal.logo_url)
        images += f" {parts.scheme}://{parts.netloc}"
    policy = (
        "default-src 'none'; script-src 'self'; "
        f"style-src 'self' 'nonce-{nonce}'; img-src {images}; connect-src 'self'; "
        f"form-action 'self'; base-uri 'none'; frame-ancestors {ancestors}"
    )
    headers = {
        "Content-Security-Policy": policy,
        "Referrer-Policy": "no-referrer",
        "X-Content-Type-Options": "nosniff",
        "Cache-Control": "no-store",
    }
    if viewer is None or not viewer.in_portal:
        headers["X-Frame-Options"] = "DENY"
    return headers


def mount(app: FastAPI, get_service: ServiceGetter) -> None:
    """Mount ``/dashboard`` and ``/portal`` at the end of ``app``'s routes."""
    pages = Pages()
    app.mount("/dashboard", dashboard_app(get_service, pages), name="dashboard")
    app.mount("/portal", portal_app(get_service, pages), name="portal")


async def current_viewer(request: Request) -> Viewer:
    """The viewer, as the app serving the request (dashboard or portal) resolves it."""
    resolve: Callable[[Request], Awaitable[Viewer]] = request.app.state.viewer
    return await resolve(request)


ViewerDep = Annotated[Viewer, Depends(current_viewer)]


def _signer(svc: service.Service) -> Signer:
    return Signer(secret_of(svc.settings))


def _sub_app(pages: Pages) -> FastAPI:
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)

    @app.exception_handler(LoginRequiredError)
    async def to_login(_request: Request, exc: LoginRequiredError) -> Response:
        return RedirectResponse(f"/dashboard/login?{urlencode({'next': exc.next_path})}", 303)

    @app.exception_handler(ElsewhereError)
    async def elsewhere(_request: Request, exc: ElsewhereError) -> Response:
        return RedirectResponse(exc.location, 303)

    @app.exception_handler(ForbiddenError)
    async def forbidden(request: Request, exc: ForbiddenError) -> Response:
        return pages.render(request, "error.html", None, status_code=403, message=exc.message)

    @app.exception_handler(exceptions.StatushooksError)
    async def domain_error(request: Request, exc: exceptions.StatushooksError) -> Response:
        status = next((s for k, s in STATUS_OF_ERROR.items() if isinstance(exc, k)), 500)
        if status == 500:
            raise exc
        return pages.render(request, "error.html", None, status_code=status, message=exc.message)

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, exc: RequestValidationError) -> Response:
        fields = ", ".join(str(error["loc"][-1]) for error in exc.errors())
        message = f"invalid input: {fields}"
        return pages.render(request, "error.html", None, status_code=400, message=message)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        message = "no such page" if exc.status_code == 404 else str(exc.detail)
        return pages.render(
            request, "error.html", None, status_code=exc.status_code, message=message
        )

    return app


# -- /dashboard ----------------------------------------------------------------------------


def dashboard_app(get_service: ServiceGetter, pages: Pages) -> FastAPI:
    app = _sub_app(pages)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    async def viewer(request: Request) -> Viewer:
        svc = get_service()
        return await auth.dashboard_viewer(request, svc, _signer(svc), service.utcnow())

    app.state.viewer = viewer

    @app.get("/login", response_class=HTMLResponse)
    async def login_form(request: Request, next: str = "/dashboard/") -> Response:
        return _login_page(pages, request, next, error=None, status_code=200)

    @app.post("/login")
    async def login(request: Request) -> Response:
        form = await auth.read_form(request)
        next_path = _safe_next(first(form, "next"))
        token = request.cookies.get(auth.LOGIN_COOKIE)
        if token is None or not same_token(first(form, "csrf_token"), token):
            raise ForbiddenError("the login form expired: reload it and try again")
        svc = get_service()
        key = (first(form, "api_key") or "").strip()
        now = service.utcnow()
        admin = svc.settings.admin_token
        signer = _signer(svc)
        if admin is not None and key and secrets.compare_digest(key.encode(), admin.encode()):
            _, cookie = signer.new_session(Role.ADMIN, None, admin_digest(admin), now)
        else:
            account_id = await svc.authenticate(key) if key else None
            if account_id is None:
                error = "That API key is unknown (or was deleted)."
                return _login_page(pages, request, next_path, error=error, status_code=401)
            _, cookie = signer.new_session(Role.ACCOUNT, account_id, key_credential(key), now)
        response = RedirectResponse(next_path, 303)
        response.set_cookie(
            auth.SESSION_COOKIE,
            cookie,
            max_age=int(SESSION_TTL.total_seconds()),
            path=auth.COOKIE_PATH,
            httponly=True,
            samesite="lax",
            secure=request.url.scheme == "https",
        )
        response.delete_cookie(auth.LOGIN_COOKIE, path=auth.COOKIE_PATH)
        return response

    @app.post("/logout")
    async def logout(request: Request, viewer: ViewerDep) -> Response:
        await auth.checked_form(request, viewer)
        response = RedirectResponse("/dashboard/login", 303)
        response.delete_cookie(auth.SESSION_COOKIE, path=auth.COOKIE_PATH)
        return response

    @app.get("/accounts", response_class=HTMLResponse)
    async def accounts_list(
        request: Request, viewer: ViewerDep, after: str | None = Query(None, max_length=64)
    ) -> Response:
        _operator_only(viewer)
        page = await views.account_page(get_service().store, after)
        return pages.render(request, "accounts.html", viewer, page=page)

    @app.get("/queue", response_class=HTMLResponse)
    async def queue(request: Request, viewer: ViewerDep) -> Response:
        _operator_only(viewer)
        now = service.utcnow()
        health = await views.queue_health(get_service().store, now)
        return pages.render(
            request, "queue.html", viewer, health=health, backlog_chart=_queue_backlog(health, now)
        )

    account_pages = _account_pages(get_service, pages)
    app.include_router(account_pages)
    app.include_router(account_pages, prefix="/accounts/{account_id}")
    return app


def _login_page(
    pages: Pages, request: Request, next_path: str, *, error: str | None, status_code: int
) -> Response:
    token = secrets.token_urlsafe(24)
    response = pages.render(
        request,
        "login.html",
        None,
        status_code=status_code,
        login_csrf=token,
        next_path=_safe_next(next_path),
        error=error,
    )
    response.set_cookie(
        auth.LOGIN_COOKIE,
        token,
        max_age=3600,
        path=auth.COOKIE_PATH,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


def _safe_next(value: str | None) -> str:
    """A path inside the dashboard to go to after logging in (never another site)."""
    if not value or not value.startswith("/dashboard/") or "//" in value or "\\" in value:
        return "/dashboard/"
    return value


def _operator_only(viewer: Viewer) -> None:
    if not viewer.is_operator:
        raise ForbiddenError("operators only: log in with the admin token")


# -- /portal -------------------------------------------------------------------------------


def portal_app(get_service: ServiceGetter, pages: Pages) -> FastAPI:
    app = _sub_app(pages)

    async def viewer(request: Request) -> Viewer:
        svc = get_service()
        return await auth.portal_viewer(request, svc, _signer(svc), service.utcnow())

    app.state.viewer = viewer
    app.include_router(_account_pages(get_service, pages), prefix="/{token}")
    return app


# -- the account's pages (dashboard, operators' view of an account, portal) ----------------


def _account_pages(get_service: ServiceGetter, pages: Pages) -> APIRouter:
    router = APIRouter()

    def account_of(viewer: Viewer) -> str:
        if viewer.account_id is None:
            raise ElsewhereError(f"{viewer.root}/accounts")
        return viewer.account_id

    def back(viewer: Viewer, path: str, done: str) -> Response:
        return RedirectResponse(f"{viewer.base}{path}?done={done}", 303)

    @router.get("/", response_class=HTMLResponse)
    async def overview(
        request: Request,
        viewer: ViewerDep,
        window: Annotated[str, Query(pattern="^(1h|24h)$")] = "1h",
    ) -> Response:
        svc = get_service()
        now = service.utcnow()
        if viewer.account_id is None:
            health = await views.queue_health(svc.store, now)
            page = await views.account_page(svc.store, None, limit=20)
            return pages.render(
                request,
                "operator.html",
                viewer,
                health=health,
                page=page,
                backlog_chart=_queue_backlog(health, now),
            )
        data = await views.overview(svc.store, viewer.account_id, views.WINDOWS[window], now)
        return pages.render(
            request,
            "overview.html",
            viewer,
            data=data,
            backlog_chart=_backlog_chart(data.backlog_series, data.window, now),
            **_charts(data.buckets, data.window),
        )

    @router.get("/endpoints", response_class=HTMLResponse)
    async def endpoints(request: Request, viewer: ViewerDep) -> Response:
        account_id = account_of(viewer)
        rows = await views.endpoint_rows(get_service().store, account_id, service.utcnow())
        return pages.render(
            request,
            "endpoints.html",
            viewer,
            rows=rows,
            types=catalog.all_types(),
            sparkline=charts.sparkline,
        )

    @router.post("/endpoints")
    async def create_endpoint(request: Request, viewer: ViewerDep) -> Response:
        account_id = account_of(viewer)
        form = await auth.checked_form(request, viewer)
        spec = service.EndpointSpec(
            url=(first(form, "url") or "").strip(),
            description=(first(form, "description") or "").strip(),
            enabled_events=tuple(form.get("enabled_events", [])),
        )
        created = await get_service().create_endpoint(account_id, spec)
        return back(viewer, f"/endpoints/{quote(created.id)}", "created")

    @router.get("/endpoints/{endpoint_id}", response_class=HTMLResponse)
    async def endpoint(
        request: Request,
        endpoint_id: str,
        viewer: ViewerDep,
        window: Annotated[str, Query(pattern="^(1h|24h)$")] = "24h",
    ) -> Response:
        account_id = account_of(viewer)
        data = await views.endpoint_detail(
            get_service().store,
            account_id,
            endpoint_id,
            views.WINDOWS[window],
            service.utcnow(),
        )
        template = "endpoint_live.html" if request.headers.get("hx-request") else "endpoint.html"
        return pages.render(
            request,
            template,
            viewer,
            data=data,
            types=catalog.all_types(),
            statuses=list(MessageStatus),
            describe=views.describe_failure,
            **_charts(data.buckets, data.window),
        )

    @router.post("/endpoints/{endpoint_id}/test")
    async def send_test(request: Request, endpoint_id: str, viewer: ViewerDep) -> Response:
        account_id = account_of(viewer)
        form = await auth.checked_form(request, viewer)
        event_type = first(form, "event_type") or ""
        await get_service().send_test(account_id, endpoint_id, event_type)
        return back(viewer, f"/endpoints/{quote(endpoint_id)}", "test-sent")

    @router.post("/endpoints/{endpoint_id}/state")
    async def set_state(request: Request, endpoint_id: str, viewer: ViewerDep) -> Response:
        account_id = account_of(viewer)
        form = await auth.checked_form(request, viewer)
        state = _enum(EndpointState, first(form, "state"), "state")
        await get_service().update_endpoint(account_id, endpoint_id, {"state": state})
        return back(viewer, f"/endpoints/{quote(endpoint_id)}", state.value)

    @router.post("/endpoints/{endpoint_id}/recover")
    async def recover(request: Request, endpoint_id: str, viewer: ViewerDep) -> Response:
        account_id = account_of(viewer)
        form = await auth.checked_form(request, viewer)
        since = _utc_time(first(form, "since"), "since")
        await get_service().recover(account_id, endpoint_id, since=since)
        return back(viewer, f"/endpoints/{quote(endpoint_id)}", "recovered")

    @router.post("/endpoints/{endpoint_id}/rotate-secret")
    async def rotate(request: Request, endpoint_id: str, viewer: ViewerDep) -> Response:
        account_id = account_of(viewer)
        await auth.checked_form(request, viewer)
        await get_service().rotate_secret(account_id, endpoint_id)
        return back(viewer, f"/endpoints/{quote(endpoint_id)}", "rotated")

    @router.get("/endpoints/{endpoint_id}/secret", response_class=HTMLResponse)
    async def reveal(request: Request, endpoint_id: str, viewer: ViewerDep) -> Response:
        account_id = account_of(viewer)
        endpoint = await get_service().get_endpoint(account_id, endpoint_id)
        live = [s for s in endpoint.secrets if s.is_live(service.utcnow())]
        return pages.render(request, "secret.html", viewer, endpoint=endpoint, secrets=live)

    @router.post("/endpoints/{endpoint_id}/filters")
    async def filters(request: Request, endpoint_id: str, viewer: ViewerDep) -> Response:
        account_id = account_of(viewer)
        form = await auth.checked_form(request, viewer)
        changes = {
            "enabled_events": tuple(form.get("enabled_events", [])),
            "statuses": tuple(
                _enum(MessageStatus, value, "statuses") for value in form.get("statuses", [])
            ),
        }
        await get_service().update_endpoint(account_id, endpoint_id, changes)
        return back(viewer, f"/endpoints/{quote(endpoint_id)}", "filters")

    @router.get("/events", response_class=HTMLResponse)
    async def event_log(
        request: Request,
        viewer: ViewerDep,
        type: Annotated[str, Query(max_length=100)] = "",
        state: Annotated[str, Query(max_length=16)] = "",
        message: Annotated[str, Query(max_length=64)] = "",
        endpoint: Annotated[str, Query(max_length=64)] = "",
        before: Annotated[str, Query(max_length=32)] = "",
        after: Annotated[str, Query(max_length=64)] = "",
    ) -> Response:
        account_id = account_of(viewer)
        log_filters = views.LogFilters(
            event_type=type or None,
            state=_enum(DeliveryState, state, "state") if state else None,
            message_id=message.strip() or None,
            endpoint_id=endpoint or None,
            before=_utc_time(before, "before") if before else None,
            after=after or None,
        )
        log = await views.event_log(get_service().store, account_id, log_filters)
        query = {k: v for k, v in request.query_params.items() if k not in ("after", "done")}
        return pages.render(
            request,
            "events.html",
            viewer,
            log=log,
            types=catalog.all_types(),
            states=list(DeliveryState),
            query=query,
            before_value=before,
            urlencode=urlencode,
        )

    @router.get("/events/{event_id}", response_class=HTMLResponse)
    async def event(request: Request, event_id: str, viewer: ViewerDep) -> Response:
        account_id = account_of(viewer)
        data = await views.event_detail(get_service().store, account_id, event_id)
        return pages.render(request, "event.html", viewer, data=data)

    @router.post("/deliveries/{delivery_id}/retry")
    async def retry(request: Request, delivery_id: str, viewer: ViewerDep) -> Response:
        account_id = account_of(viewer)
        await auth.checked_form(request, viewer)
        delivery = await get_service().retry_delivery(account_id, delivery_id)
        return back(viewer, f"/events/{quote(delivery.event_id)}", "retried")

    @router.get("/messages", response_class=HTMLResponse)
    async def find_message(
        request: Request, viewer: ViewerDep, id: Annotated[str, Query(max_length=64)] = ""
    ) -> Response:
        account_of(viewer)
        if id.strip():
            return RedirectResponse(f"{viewer.base}/messages/{quote(id.strip())}", 303)
        return pages.render(request, "message_search.html", viewer)

    @router.get("/messages/{message_id}", response_class=HTMLResponse)
    async def message(request: Request, message_id: str, viewer: ViewerDep) -> Response:
        account_id = account_of(viewer)
        data = await views.message_timeline(get_service().store, account_id, message_id)
        return pages.render(request, "message.html", viewer, data=data)

    @router.get("/catalog", response_class=HTMLResponse)
    async def event_catalog(request: Request, viewer: ViewerDep) -> Response:
        account_of(viewer)
        kinds = [
            (kind, views.pretty_json(_json(kind.schema)), views.pretty_json(_json(kind.example)))
            for kind in catalog.all_types()
        ]
        return pages.render(request, "catalog.html", viewer, kinds=kinds)

    return router


def _charts(buckets: list[views.Bucket], window: views.Window) -> dict[str, Any]:
    """The three charts of a window's buckets: attempts, success rate, latency."""
    labels = [_time_label(bucket.start, window) for bucket in buckets]
    bars = [
        charts.Bar(label=lab, ok=b.ok, failed=b.failed)
        for lab, b in zip(labels, buckets, strict=True)
    ]
    start = labels[0] if labels else ""
    total = sum(b.total for b in buckets)
    return {
        "attempts_chart": charts.bar_chart(
            bars,
            label=f"Attempts per bucket: {total} in all, succeeded in green, failed in red",
            start=start,
            end="now",
        ),
        "success_chart": charts.line_chart(
            [("success %", [None if r is None else r * 100 for r in _rates(buckets)])],
            label="Success rate per bucket, in percent",
            unit=" %",
            start=start,
            end="now",
        ),
        "latency_chart": charts.line_chart(
            [("p50", [b.p50_ms for b in buckets]), ("p95", [b.p95_ms for b in buckets])],
            label="Latency per bucket: p50 and p95, in milliseconds",
            unit=" ms",
            start=start,
            end="now",
        ),
    }


def _backlog_chart(values: list[int | None], window: views.Window, now: datetime) -> Markup:
    """The backlog per bucket (its highest sample), as a line; gaps where none was taken."""
    sampled = [value for value in values if value is not None]
    latest = f"{sampled[-1]:,} at the latest sample" if sampled else "no samples yet"
    return charts.line_chart(
        [("backlog", values)],
        label=f"Backlog per bucket, the highest sample of each: {latest}",
        start=_time_label(now - window.span, window),
        end="now",
    )


def _queue_backlog(health: views.QueueHealth, now: datetime) -> Markup:
    return _backlog_chart(health.backlog_series, views.QUEUE_WINDOW, now)


def _time_label(when: datetime, window: views.Window) -> str:
    shape = "%H:%M" if window.span <= timedelta(hours=1) else "%a %H:%M"
    return when.strftime(shape) + " UTC"


def _rates(buckets: list[views.Bucket]) -> list[float | None]:
    return [bucket.success_rate for bucket in buckets]


def _json(value: Mapping[str, Any]) -> bytes:
    return json.dumps(value).encode()


def _enum(kind: Any, value: str | None, name: str) -> Any:
    try:
        return kind(value)
    except ValueError:
        allowed = ", ".join(member.value for member in kind)
        raise exceptions.ValidationError(
            f"{name}: must be one of {allowed}", errors=[{"field": name, "message": allowed}]
        ) from None


def _utc_time(value: str | None, name: str) -> datetime:
    """A ``datetime-local`` input's value, read as UTC."""
    try:
        parsed = datetime.fromisoformat((value or "").strip())
    except ValueError:
        raise exceptions.ValidationError(
            f"{name}: a date and time (YYYY-MM-DDTHH:MM, UTC)",
            errors=[{"field": name, "message": "YYYY-MM-DDTHH:MM"}],
        ) from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
