"""Who is looking at a dashboard or portal page, and what they may see."""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import parse_qs, quote

from fastapi import Request

from statushooks import accounts, service
from statushooks.dashboard.sessions import Role, Session, Signer, admin_digest, same_token

SESSION_COOKIE = "sh_session"
LOGIN_COOKIE = "sh_login"
COOKIE_PATH = "/dashboard"
MAX_FORM_BYTES = 64 * 1024


class LoginRequiredError(Exception):
    """No valid session: the browser goes to the login form."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


class ElsewhereError(Exception):
    """The page is not for this viewer; another one is (an operator asking for an account's
    page without an account goes to the accounts)."""

    def __init__(self, location: str) -> None:
        super().__init__(location)
        self.location = location


class ForbiddenError(Exception):
    """The session may not see this (or a form's CSRF token is wrong, or a link expired)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True, kw_only=True)
class Viewer:
    """A page's reader: their role, the account shown, and where its pages live."""

    role: Role
    #: The account the pages show; None on the operators' home.
    account_id: str | None
    #: URL prefix of the account's pages (``/dashboard``, ``/dashboard/accounts/acc_…``,
    #: ``/portal/<link>``).
    base: str
    #: URL prefix of the app (``/dashboard`` or ``/portal/<link>``).
    root: str
    csrf: str
    portal: accounts.PortalSettings = field(default_factory=accounts.PortalSettings)
    account_name: str = ""
    expires_at: datetime | None = None

    @property
    def is_operator(self) -> bool:
        return self.role is Role.ADMIN

    @property
    def in_portal(self) -> bool:
        return self.role is Role.PORTAL


def session_of(request: Request, signer: Signer, now: datetime) -> Session | None:
    cookie = request.cookies.get(SESSION_COOKIE)
    return None if cookie is None else signer.read_session(cookie, now)


async def still_valid(session: Session, svc: service.Service) -> bool:
    """Whether the credential the session was opened with still works."""
    if session.role is Role.ADMIN:
        token = svc.settings.admin_token
        return token is not None and hmac.compare_digest(session.credential, admin_digest(token))
    owner = svc.keys.get(session.credential)
    if owner is None:
        owner = await svc.store.read(lambda tx: tx.account_id_for_key_hash(session.credential))
    return owner is not None and owner == session.account_id


async def dashboard_viewer(
    request: Request, svc: service.Service, signer: Signer, now: datetime
) -> Viewer:
    """The viewer of a ``/dashboard`` page, from the session cookie; an admin looks at the
    account in the path (``/dashboard/accounts/{account_id}/…``) or at the operators' home."""
    session = session_of(request, signer, now)
    if session is None or not await still_valid(session, svc):
        raise LoginRequiredError(_here(request))
    root = str(request.scope.get("root_path", "")) or COOKIE_PATH
    path_account = request.path_params.get("account_id")
    if session.role is Role.ADMIN:
        if path_account is None:
            return Viewer(role=Role.ADMIN, account_id=None, base=root, root=root, csrf=session.csrf)
        account = await svc.get_account(str(path_account))
        base = f"{root}/accounts/{quote(account.id)}"
        return _viewer(Role.ADMIN, account, base, root, session.csrf, session.expires_at)
    if path_account is not None and path_account != session.account_id:
        raise ForbiddenError("this session shows one account only")
    assert session.account_id is not None
    account = await svc.get_account(session.account_id)
    if path_account is not None:
        return _viewer(
            Role.ACCOUNT,
            account,
            f"{root}/accounts/{quote(account.id)}",
            root,
            session.csrf,
            session.expires_at,
        )
    return _viewer(Role.ACCOUNT, account, root, root, session.csrf, session.expires_at)


async def portal_viewer(
    request: Request, svc: service.Service, signer: Signer, now: datetime
) -> Viewer:
    """The viewer of a ``/portal/<link>`` page: the link is the credential."""
    token = str(request.path_params.get("token", ""))
    grant = signer.read_portal(token, now)
    if grant is None:
        raise ForbiddenError("this portal link is invalid or has expired: ask for a new one")
    account = await svc.get_account(grant.account_id)
    root = f"{request.scope.get('root_path', '')}/{token}"
    return _viewer(Role.PORTAL, account, root, root, signer.portal_csrf(token), grant.expires_at)


def _viewer(
    role: Role,
    account: accounts.Account,
    base: str,
    root: str,
    csrf: str,
    expires_at: datetime | None,
) -> Viewer:
    return Viewer(
        role=role,
        account_id=account.id,
        base=base,
        root=root,
        csrf=csrf,
        portal=account.portal,
        account_name=account.name,
        expires_at=expires_at,
    )


def _here(request: Request) -> str:
    query = request.url.query
    return request.url.path + (f"?{query}" if query else "")


async def read_form(request: Request) -> dict[str, list[str]]:
    """The urlencoded form of a POST (at most ``MAX_FORM_BYTES``)."""
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        raise ForbiddenError("the form is too large")
    return parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)


async def checked_form(request: Request, viewer: Viewer) -> dict[str, list[str]]:
    """The form, once its CSRF token (field ``csrf_token`` or header ``X-CSRF-Token``)
    is the viewer's."""
    form = await read_form(request)
    given = first(form, "csrf_token") or request.headers.get("x-csrf-token")
    if not same_token(given, viewer.csrf):
        raise ForbiddenError("the form's CSRF token is missing or wrong: reload the page")
    return form


def first(form: dict[str, list[str]], name: str) -> str | None:
    values = form.get(name)
    return values[0] if values else None
