"""Settings from ``STATUSHOOKS_*`` environment variables; built in ``main()``/``create_app()``."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from statushooks import durations, exceptions

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./statushooks.db"
DEFAULT_PUBLIC_BASE_URL = "http://localhost:8080"
DEFAULT_RETRY_SCHEDULE = "0s,5s,5m,30m,2h,5h,10h,10h"
DEFAULT_DELIVERY_TIMEOUT = 15.0  # seconds, whole attempt including the body
DEFAULT_LEASE_SECONDS = 60.0  # seconds; must outlive the delivery timeout
DEFAULT_RETENTION = "30d"
DEFAULT_PRUNE_INTERVAL = "1m"
DEFAULT_WORKERS = 1  # API processes of ``statushooks serve`` (docs/api.md: two were no faster)
#: Seals connector credentials where neither a secret key nor an admin token is set: in
#: development only (``Settings`` refuses production without a real admin token).
DEVELOPMENT_SECRET = "statushooks-development-secret"
PLACEHOLDER_TOKENS = frozenset({"", "changethis", "changeme", "secret", "admin", "token"})
#: Outside development a token (admin, metrics) has at least this many characters, this
#: many of them different: ``openssl rand -hex 24`` gives 48 (of 16 kinds).
MIN_TOKEN_LENGTH = 24
MIN_TOKEN_DISTINCT = 8


class Settings(BaseSettings):
    """Every tunable of statushooks; each is ``STATUSHOOKS_<NAME>`` in the environment."""

    model_config = SettingsConfigDict(env_prefix="STATUSHOOKS_", extra="ignore", frozen=True)

    environment: Literal["development", "production"] = "development"
    database_url: str = DEFAULT_DATABASE_URL
    public_base_url: str = DEFAULT_PUBLIC_BASE_URL
    admin_token: str | None = None
    #: Bearer token of ``GET /metrics`` (the admin token is taken there too).
    metrics_token: str | None = None
    #: Seals connector credentials at rest (``connectors.sealing``); the admin token if unset.
    secret_key: str | None = None
    #: Signs dashboard sessions and portal links. Unset: derived from ``admin_token``, or
    #: (without one) random per process, so sessions and links end with the process.
    session_secret: str | None = None
    retry_schedule: str = DEFAULT_RETRY_SCHEDULE
    allow_private_urls: bool = False
    delivery_timeout: float = Field(default=DEFAULT_DELIVERY_TIMEOUT, gt=0)
    lease_seconds: float = Field(default=DEFAULT_LEASE_SECONDS, gt=0)
    #: JSON pricing table replacing the packaged default (see ``statushooks/data/pricing.json``).
    pricing_file: Path | None = None
    #: Disable an endpoint that failed every attempt for this long …
    auto_disable_after: str = "5d"
    #: … counting only once its failures span this long.
    auto_disable_min_span: str = "12h"
    #: Suspend an endpoint for a short, growing pause once this many attempts in a row failed
    #: within ``suspend_window`` (``statushooks.suspension``; 0: never) …
    suspend_after_failures: int = Field(default=10, ge=0)
    suspend_window: str = "1m"
    #: … the pauses, one per suspension in a row (the last repeats).
    suspend_pauses: str = "30s,1m,2m,3m"
    #: Dispatcher: deliveries claimed per round trip, and requests in flight per process.
    dispatch_batch: int = Field(default=200, gt=0)
    dispatch_concurrency: int = Field(default=256, gt=0)
    #: Leasing ahead: each endpoint's share of ``max_in_flight`` may be leased this many times
    #: over beyond the requests a worker sends (0: lease only what it can send at once).
    #: The leases ahead wait in the worker and go out as its requests finish, without waiting
    #: for a claim. Lowered while the lease could not outlive the wait (see
    #: ``lease_ahead``); never for rate-limited endpoints.
    dispatch_lease_ahead: int = Field(default=1, ge=0)
    poll_interval: float = Field(default=1.0, gt=0)
    #: SIGTERM: how long in-flight attempts may take to finish before their leases are released.
    shutdown_timeout: float = Field(default=10.0, ge=0)
    #: ``statushooks serve``: API processes serving its port (beside the dispatcher's process).
    workers: int = Field(default=DEFAULT_WORKERS, ge=1)
    #: Finished deliveries, their attempts and events, and messages none of them refer to any
    #: more are deleted once older than this (``retention``), by the dispatcher and by
    #: ``statushooks prune``.
    retention: str = DEFAULT_RETENTION
    #: How often the dispatcher runs a pruning round (``retention.prune_periodically``).
    prune_interval: str = DEFAULT_PRUNE_INTERVAL

    @field_validator("public_base_url")
    @classmethod
    def _strip_trailing_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @field_validator(
        "retry_schedule",
        "auto_disable_after",
        "auto_disable_min_span",
        "retention",
        "prune_interval",
        "suspend_window",
        "suspend_pauses",
    )
    @classmethod
    def _check_durations(cls, value: str) -> str:
        try:
            durations.parse_schedule(value)
        except exceptions.ConfigurationError as exc:
            raise ValueError(exc.message) from exc
        return value

    @model_validator(mode="after")
    def _check_consistency(self) -> Settings:
        if self.lease_seconds <= self.delivery_timeout:
            raise ValueError(
                f"lease_seconds ({self.lease_seconds:g}) must be longer than "
                f"delivery_timeout ({self.delivery_timeout:g}), or two workers could send "
                "the same delivery at once"
            )
        if self.prune_interval_seconds <= 0:
            raise ValueError("prune_interval must be over 0s")
        if self.suspend_window_seconds <= 0 or 0 in self.suspend_pause_delays:
            raise ValueError("suspend_window and every suspend_pauses delay must be over 0s")
        if self.environment != "development":
            if self._admin_token_is_placeholder():
                raise ValueError(
                    "STATUSHOOKS_ADMIN_TOKEN is missing or a placeholder; set a real secret "
                    "outside development"
                )
            for name, token in (("ADMIN", self.admin_token), ("METRICS", self.metrics_token)):
                if token is not None and not is_strong_token(token):
                    raise ValueError(
                        f"STATUSHOOKS_{name}_TOKEN is too weak: outside development it needs "
                        f"at least {MIN_TOKEN_LENGTH} characters, {MIN_TOKEN_DISTINCT} of them "
                        "different (e.g. openssl rand -hex 24)"
                    )
        return self

    def _admin_token_is_placeholder(self) -> bool:
        return self.admin_token is None or self.admin_token.strip().lower() in PLACEHOLDER_TOKENS

    def to_env(self) -> dict[str, str]:
        """These settings as ``STATUSHOOKS_*`` variables: what a child process (``serve``'s
        dispatcher) needs to load the same ones."""
        env: dict[str, str] = {}
        for name, value in self.model_dump().items():
            if value is not None:
                text = str(value).lower() if isinstance(value, bool) else str(value)
                env[f"STATUSHOOKS_{name.upper()}"] = text
        return env

    @property
    def credentials_secret(self) -> str:
        """What connector credentials are sealed with: the secret key, else the admin token,
        else (development only) ``DEVELOPMENT_SECRET``."""
        return self.secret_key or self.admin_token or DEVELOPMENT_SECRET

    @property
    def lease_ahead(self) -> int:
        """``dispatch_lease_ahead``, lowered until a lease outlives its wait and its attempt:
        a lease ahead waits at most one ``delivery_timeout`` per share ahead of it."""
        ahead = self.dispatch_lease_ahead
        while ahead > 0 and (ahead + 1) * self.delivery_timeout >= self.lease_seconds:
            ahead -= 1
        return ahead

    @property
    def retry_delays(self) -> tuple[float, ...]:
        """The retry schedule in seconds: the delay before attempt 1, 2, …"""
        return durations.parse_schedule(self.retry_schedule)

    @property
    def auto_disable_after_seconds(self) -> float:
        return durations.parse_duration(self.auto_disable_after)

    @property
    def auto_disable_min_span_seconds(self) -> float:
        return durations.parse_duration(self.auto_disable_min_span)

    @property
    def suspend_window_seconds(self) -> float:
        return durations.parse_duration(self.suspend_window)

    @property
    def suspend_pause_delays(self) -> tuple[float, ...]:
        return durations.parse_schedule(self.suspend_pauses)

    @property
    def retention_seconds(self) -> float:
        return durations.parse_duration(self.retention)

    @property
    def prune_interval_seconds(self) -> float:
        return durations.parse_duration(self.prune_interval)


def is_strong_token(token: str) -> bool:
    """Whether a bearer token is long and varied enough to be a secret (not ``x``, ``aaaa…``)."""
    return len(token) >= MIN_TOKEN_LENGTH and len(set(token)) >= MIN_TOKEN_DISTINCT


def load_settings(**overrides: object) -> Settings:
    """Settings from the environment plus overrides; a bad value is a ``ConfigurationError``."""
    from pydantic import ValidationError

    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'settings'}: {err['msg']}"
            for err in exc.errors()
        )
        raise exceptions.ConfigurationError(f"invalid settings: {problems}") from exc
