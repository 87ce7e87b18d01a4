"""Settings, from environment variables or a ``.env`` file (see docs/operations.md)."""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import AliasChoices, Field, SecretStr, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

if TYPE_CHECKING:
    from orggraph.graph.cypher import CypherLimits


def _user_dir(env: str, fallback: str) -> Path:
    base = os.environ.get(env)
    return Path(base) / "orggraph" if base else Path.home() / fallback / "orggraph"


def default_home() -> Path:
    """Per-user data dir (XDG_DATA_HOME, else ~/.local/share)."""
    return _user_dir("XDG_DATA_HOME", ".local/share")


def default_cache_dir() -> Path:
    """Per-user cache dir for the Neo4j jars (XDG_CACHE_HOME, else ~/.cache)."""
    return _user_dir("XDG_CACHE_HOME", ".cache")


class Settings(BaseSettings):
    """Every setting of the service. Environment names are given per field."""

    # Settings carry secrets (passwords, the JWT secret, the PII key): errors never echo values.
    model_config = SettingsConfigDict(
        env_prefix="ORGGRAPH_",
        env_file=".env",
        extra="ignore",
        populate_by_name=True,
        hide_input_in_errors=True,
    )

    # External Neo4j (server, cluster with neo4j:// routing, Aura). Unset: embedded.
    neo4j_uri: str | None = Field(
        default=None, validation_alias=AliasChoices("NEO4J_URI", "ORGGRAPH_NEO4J_URI")
    )
    neo4j_user: str = Field(
        default="neo4j", validation_alias=AliasChoices("NEO4J_USER", "ORGGRAPH_NEO4J_USER")
    )
    neo4j_password: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("NEO4J_PASSWORD", "ORGGRAPH_NEO4J_PASSWORD"),
    )
    neo4j_database: str = Field(
        default="neo4j",
        validation_alias=AliasChoices("NEO4J_DATABASE", "ORGGRAPH_NEO4J_DATABASE"),
    )
    # Driver time bounds: with the database down a request fails with
    # DATABASE_UNAVAILABLE after about connect + retry time instead of hanging.
    # ORGGRAPH_NEO4J_CONNECTION_TIMEOUT_S, ..._ACQUISITION_TIMEOUT_S (pool wait),
    # ..._MAX_RETRY_TIME_S (transient-error retries).
    neo4j_connection_timeout_s: float = Field(default=5.0, gt=0)
    neo4j_acquisition_timeout_s: float = Field(default=10.0, gt=0)
    neo4j_max_retry_time_s: float = Field(default=5.0, ge=0)

    # Embedded Neo4j runtime (used when NEO4J_URI is unset).
    home: Path = Field(default_factory=default_home)  # ORGGRAPH_HOME
    cache_dir: Path = Field(default_factory=default_cache_dir)  # ORGGRAPH_CACHE_DIR
    bolt_port: int = Field(default=0, ge=0, le=65535)  # ORGGRAPH_BOLT_PORT, 0 = any free
    neo4j_heap: str = "1g"  # ORGGRAPH_NEO4J_HEAP
    neo4j_pagecache: str = "512m"  # ORGGRAPH_NEO4J_PAGECACHE
    neo4j_start_timeout_s: float = 180.0
    # Heap one transaction may use, and all together (e.g. "256m"); unset: 1/4 and 1/2 of the
    # heap. ORGGRAPH_NEO4J_TRANSACTION_MEMORY, ORGGRAPH_NEO4J_TRANSACTION_MEMORY_TOTAL.
    neo4j_transaction_memory: str | None = None
    neo4j_transaction_memory_total: str | None = None

    # Authentication (docs/security.md). None set: no auth, loopback only, LOCAL_ADMIN.
    jwt_secret: SecretStr | None = None  # ORGGRAPH_JWT_SECRET: HS256
    jwt_public_key_file: Path | None = None  # ORGGRAPH_JWT_PUBLIC_KEY_FILE: PEM, RS256/ES256
    jwks_file: Path | None = None  # ORGGRAPH_JWKS_FILE: keys chosen by the token's kid
    jwt_issuer: str | None = None  # ORGGRAPH_JWT_ISSUER: required `iss` when set
    jwt_audience: str | None = None  # ORGGRAPH_JWT_AUDIENCE: required `aud` when set
    api_keys_file: Path | None = None  # ORGGRAPH_API_KEYS_FILE: JSON list, keys by sha256

    # Personal data (docs/personal-data.md): the key customers' emails are encrypted with.
    # ORGGRAPH_PII_KEY: base64 or hex of 32 bytes; several, comma-separated, to rotate (the
    # first encrypts, all decrypt). Unset: a key generated once and kept in ORGGRAPH_HOME.
    pii_key: SecretStr | None = None

    @field_validator("pii_key")
    @classmethod
    def _pii_key_is_valid(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            from orggraph.graph.personal import parse_keys

            parse_keys(value.get_secret_value())  # a clear error, never the key itself
        return value

    @property
    def auth_configured(self) -> bool:
        return any((self.jwt_secret, self.jwt_public_key_file, self.jwks_file, self.api_keys_file))

    # HTTP service.
    host: str = "127.0.0.1"  # ORGGRAPH_HOST
    port: int = Field(default=8000, ge=0, le=65535)  # ORGGRAPH_PORT
    log_level: str = "info"
    # Host header values served (docs/http-security.md), comma-separated, `*.example.com`
    # patterns, `*` for any. Unset: the loopback names and ORGGRAPH_HOST unless a wildcard.
    allowed_hosts: Annotated[list[str] | None, NoDecode] = None  # ORGGRAPH_ALLOWED_HOSTS

    @field_validator("allowed_hosts", mode="before")
    @classmethod
    def _split_hosts(cls, value: object) -> object:
        if isinstance(value, str):
            return [host.strip() for host in value.split(",") if host.strip()]
        return value

    def trusted_hosts(self) -> list[str]:
        """The Host header values the service answers (lowercase, no port)."""
        if self.allowed_hosts is not None:
            return [host.lower() for host in self.allowed_hosts]
        hosts = ["localhost", "127.0.0.1", "[::1]"]
        bind = self.host.strip().lower()
        if bind not in ("", "0.0.0.0", "::", "[::]", "*"):
            hosts.append(f"[{bind}]" if ":" in bind and not bind.startswith("[") else bind)
        return list(dict.fromkeys(hosts))

    # Browsers (docs/operations.md#cors). ORGGRAPH_CORS_ORIGINS: comma-separated origins
    # (`http://localhost:5173`) allowed to call the service from a page; unset: none.
    # ORGGRAPH_CORS_ALLOW_CREDENTIALS: let those pages send cookies / HTTP auth (never
    # with `*`).
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    cors_allow_credentials: bool = False
    # Answers larger than this many bytes are gzip-compressed for clients that accept it.
    gzip_minimum_bytes: int = Field(default=1_000, ge=0)  # ORGGRAPH_GZIP_MINIMUM_BYTES
    # Persisted documents (docs/operations.md#persisted-documents). ORGGRAPH_TRUSTED_DOCUMENTS:
    # a JSON manifest (hash -> document, or Apollo's persisted-query manifest); when set,
    # only its documents run. ORGGRAPH_APQ_CACHE_SIZE: documents kept for automatic
    # persisted queries (0: off).
    trusted_documents: Path | None = None
    apq_cache_size: int = Field(default=1_000, ge=0)
    # Observability: /metrics (ORGGRAPH_METRICS), one JSON line per request on the
    # `orggraph.requests` logger (ORGGRAPH_ACCESS_LOG); traces follow the OTEL_* variables.
    metrics: bool = True
    access_log: bool = True
    log_format: Literal["text", "json"] = "text"  # ORGGRAPH_LOG_FORMAT

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            return [origin.strip().rstrip("/") for origin in value.split(",") if origin.strip()]
        return value

    @field_validator("cors_allow_credentials")
    @classmethod
    def _no_credentials_for_any_origin(cls, value: bool, info: ValidationInfo) -> bool:
        if value and "*" in (info.data.get("cors_origins") or []):
            raise ValueError(
                "ORGGRAPH_CORS_ALLOW_CREDENTIALS cannot be used with ORGGRAPH_CORS_ORIGINS=*: "
                "any site could then act with its visitors' credentials; list the origins"
            )
        return value

    # GraphQL limits.
    max_query_depth: int = 12
    max_tokens: int = 5_000
    max_aliases: int = 30
    document_cache_size: int = Field(default=256, ge=1)  # parsed+validated documents kept
    # Root entity fields answered by one compiled Cypher query (schema.entities); off: resolvers.
    compiled_reads: bool = True
    max_page_size: int = 1_000
    max_batch_size: int = 5_000  # rows per upsert mutation
    query_timeout_s: float = 30.0  # bound on one unit of database work, retries included
    # Bound on one write batch of an import, `orggraph seed` or `serve --demo` seeding
    # (ORGGRAPH_WRITE_TIMEOUT_S): bulk work never runs under the interactive bound above.
    write_timeout_s: float = Field(default=600.0, gt=0)
    max_query_cost: int = 3_000_000  # estimated fields resolved, lists x their true bounds
    max_body_bytes: int = 5_000_000  # request body of /graphql and /cypher (HTTP 413)
    # Selections a document expands to, fragments spread in place (docs/http-security.md).
    max_selections: int = Field(default=10_000, ge=1)  # ORGGRAPH_MAX_SELECTIONS

    # Read-only Cypher for analysts (POST /cypher, the `cypher` field, `orggraph cypher`).
    cypher_timeout_s: float = Field(default=10.0, gt=0)  # server-side transaction timeout
    cypher_max_rows: int = Field(default=10_000, ge=1)  # more rows: truncated
    cypher_max_bytes: int = Field(default=10_000_000, ge=1)  # JSON size of the rows: truncated

    # Live subscriptions (see docs/kpis.md).
    events: Literal["memory", "redis"] = "memory"  # ORGGRAPH_EVENTS; redis: shared by replicas
    redis_url: str = "redis://127.0.0.1:6379/0"  # ORGGRAPH_REDIS_URL
    redis_channel: str = "orggraph:events"  # ORGGRAPH_REDIS_CHANNEL, one per deployment
    events_queue_size: int = Field(default=100, ge=1)  # per subscriber; oldest dropped

    # Plausible range of every stored date-time (docs/model.md, "Dates"): not before
    # ORGGRAPH_MIN_DATE, not more than ORGGRAPH_MAX_DATE_AHEAD_DAYS after now.
    min_date: date = date(1970, 1, 1)
    max_date_ahead_days: int = Field(default=366, ge=0, le=36_500)

    # Erasure of a customer (docs/personal-data.md): its touchpoints are anonymised (kept
    # for aggregates, free-form attributes removed) or deleted. ORGGRAPH_ERASURE_TOUCHPOINTS.
    erasure_touchpoints: Literal["anonymise", "delete"] = "anonymise"

    # Live tracking (docs/tracking.md): the Segment HTTP API at /v1/*. A JSON object of
    # write key -> source name; unset or empty: the endpoints are off.
    tracking_write_keys: dict[str, str] = Field(default_factory=dict)  # ..._WRITE_KEYS
    # Customer id of a userId (prefix + userId), of an anonymous visitor (prefix + anonymousId).
    tracking_user_prefix: str = ""  # ORGGRAPH_TRACKING_USER_PREFIX
    tracking_anonymous_prefix: str = "anonymous:"  # ORGGRAPH_TRACKING_ANONYMOUS_PREFIX
    # A JSON object of track event name -> touchpoint type, added to the built-in ones.
    tracking_event_types: dict[str, str] = Field(default_factory=dict)  # ..._EVENT_TYPES

    @field_validator("tracking_event_types")
    @classmethod
    def _known_touchpoint_types(cls, value: dict[str, str]) -> dict[str, str]:
        from orggraph.graph.model import TouchpointType

        for event, kind in value.items():
            if kind not in TouchpointType.__members__:
                raise ValueError(f"event {event!r}: {kind!r} is not a touchpoint type")
        return value

    # KPI engine: recompute every KPI every N seconds inside `serve` (0 or unset: off).
    kpi_interval_s: float | None = Field(default=None, ge=0)  # ORGGRAPH_KPI_INTERVAL_S

    def cypher_limits(self) -> CypherLimits:
        """The bounds of analysts' read-only Cypher, shared by its three doors."""
        from orggraph.graph.cypher import CypherLimits

        return CypherLimits(
            timeout_s=self.cypher_timeout_s,
            max_rows=self.cypher_max_rows,
            max_bytes=self.cypher_max_bytes,
        )

    @property
    def uses_embedded_database(self) -> bool:
        return not self.neo4j_uri
