"""Who is asking: the principal every request carries, and the roles it may hold.

The authentication layer (bearer JWT or static API key) turns a request into a
``Principal``; the schema layer decides from it what may be read or written.
With no authentication configured the service runs for one local user and every
request carries ``LOCAL_ADMIN`` (the service then only binds to loopback).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from orggraph.settings import Settings


class Role(StrEnum):
    ADMIN = "ADMIN"  # everything
    WRITER = "WRITER"  # mutations and imports through the API
    ANALYST = "ANALYST"  # read-only Cypher, all numbers
    FUNCTION = "FUNCTION"  # a team member: its own team's part of the graph


@dataclass(frozen=True)
class Principal:
    subject: str
    roles: frozenset[Role] = field(default_factory=frozenset)
    teams: frozenset[str] = field(default_factory=frozenset)
    # May see fields marked personal (Customer.email, ...) unmasked.
    can_read_pii: bool = False

    def has(self, role: Role) -> bool:
        return Role.ADMIN in self.roles or role in self.roles


LOCAL_ADMIN = Principal(subject="local", roles=frozenset({Role.ADMIN}), can_read_pii=True)
# With auth on, a request without valid credentials where none are demanded (the
# GraphiQL page, a WebSocket before connection_init): may do nothing.
ANONYMOUS = Principal(subject="anonymous")


def require_cypher_access(principal: Principal) -> None:
    """Read-only Cypher (POST /cypher, the ``cypher`` field, ``orggraph cypher``) is for
    analysts and admins only; everyone else gets FORBIDDEN."""
    from orggraph.errors import ForbiddenError

    if not principal.has(Role.ANALYST):
        raise ForbiddenError(
            "read-only Cypher needs the ANALYST role", field="cypher", subject=principal.subject
        )


# --- authentication ----------------------------------------------------------------------

_ASYMMETRIC_ALGORITHMS = ["RS256", "RS384", "RS512", "ES256", "ES384", "ES512"]


def _principal_from_claims(claims: dict[str, Any], where: str) -> Principal:
    from orggraph.errors import UnauthenticatedError

    subject = claims.get("sub") or claims.get("subject")
    if not isinstance(subject, str) or not subject:
        raise UnauthenticatedError(f"the {where} names no subject (`sub`)")
    raw_roles = claims.get("roles", [])
    raw_teams = claims.get("teams", [])
    if not isinstance(raw_roles, list) or not isinstance(raw_teams, list):
        raise UnauthenticatedError(f"the {where}'s `roles` and `teams` must be lists")
    try:
        roles = frozenset(Role(str(role).upper()) for role in raw_roles)
    except ValueError as error:
        known = ", ".join(role.value for role in Role)
        raise UnauthenticatedError(f"the {where} has an unknown role (known: {known})") from error
    return Principal(
        subject=subject,
        roles=roles,
        teams=frozenset(str(team) for team in raw_teams),
        can_read_pii=claims.get("pii") is True,
    )


@dataclass(frozen=True)
class ApiKey:
    sha256: str
    claims: dict[str, Any]


class Authenticator:
    """Turns the credentials of a request into a Principal, from the settings' keys.

    Bearer JWTs: HS256 with ``jwt_secret``; RS*/ES* with ``jwt_public_key_file``
    or the key of ``jwks_file`` named by the token's ``kid``. API keys: the
    ``X-API-Key`` header (or ``Authorization: ApiKey <key>``), compared by SHA-256
    in constant time with the entries of ``api_keys_file``.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.public_key = (
            settings.jwt_public_key_file.read_text() if settings.jwt_public_key_file else None
        )
        self.jwks: Any = None
        if settings.jwks_file:
            import jwt

            self.jwks = jwt.PyJWKSet.from_json(settings.jwks_file.read_text())
        self.api_keys: list[ApiKey] = []
        if settings.api_keys_file:
            entries = json.loads(settings.api_keys_file.read_text())
            self.api_keys = [ApiKey(str(e["sha256"]).lower(), dict(e)) for e in entries]

    def authenticate(self, authorization: str | None, api_key: str | None) -> Principal:
        from orggraph.errors import UnauthenticatedError

        if authorization:
            scheme, _, credentials = authorization.strip().partition(" ")
            if scheme.lower() == "bearer" and credentials.strip():
                return self.from_token(credentials.strip())
            if scheme.lower() == "apikey" and credentials.strip():
                return self.from_api_key(credentials.strip())
            raise UnauthenticatedError(
                "the Authorization header must be `Bearer <token>` or `ApiKey <key>`"
            )
        if api_key:
            return self.from_api_key(api_key)
        raise UnauthenticatedError(
            "credentials required: an `Authorization: Bearer <token>` or an `X-API-Key` header"
        )

    def from_api_key(self, key: str) -> Principal:
        from orggraph.errors import UnauthenticatedError

        digest = hashlib.sha256(key.encode()).hexdigest()
        match = None
        for entry in self.api_keys:  # every entry compared: no early exit on a match
            if hmac.compare_digest(digest, entry.sha256):
                match = entry
        if match is None:
            raise UnauthenticatedError("unknown API key")
        return _principal_from_claims(match.claims, "API key entry")

    def from_token(self, token: str) -> Principal:
        import jwt

        from orggraph.errors import UnauthenticatedError

        options: jwt.types.Options = {"require": ["sub", "exp"]}
        try:
            header = jwt.get_unverified_header(token)
            key, algorithms = self._key_for(header)
            claims = jwt.decode(
                token,
                key=key,
                algorithms=algorithms,
                audience=self.settings.jwt_audience,
                issuer=self.settings.jwt_issuer,
                options=options,
            )
        except jwt.ExpiredSignatureError as error:
            raise UnauthenticatedError("the token has expired") from error
        except jwt.InvalidSignatureError as error:
            raise UnauthenticatedError("the token's signature does not verify") from error
        except jwt.PyJWTError as error:
            raise UnauthenticatedError(f"the token is not valid: {error}") from error
        return _principal_from_claims(claims, "token")

    def _key_for(self, header: dict[str, Any]) -> tuple[Any, list[str]]:
        import jwt

        algorithm = str(header.get("alg", ""))
        if algorithm == "HS256" and self.settings.jwt_secret is not None:
            return self.settings.jwt_secret.get_secret_value(), ["HS256"]
        if algorithm in _ASYMMETRIC_ALGORITHMS:
            kid = header.get("kid")
            if self.jwks is not None and kid is not None:
                for jwk in self.jwks.keys:
                    if jwk.key_id == kid:
                        return jwk.key, [algorithm]
                raise jwt.InvalidTokenError(f"no key with kid {kid!r} in the JWKS file")
            if self.public_key is not None:
                return self.public_key, [algorithm]
        accepted = algorithm or "no algorithm"
        raise jwt.InvalidTokenError(f"tokens signed with {accepted} are not accepted")
