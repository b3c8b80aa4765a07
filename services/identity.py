"""Signing in, tokens, merchants' API keys, and the users ops manage.

Embedded mode (the default for `make run` and tests): the API is its own issuer. Passwords are argon2id
hashes; an access token is a short-lived JWT (HS256, `auth_token_secret`); a refresh token is an opaque
random string stored as a hash and good for one use. Repeated failed sign-ins lock the account for a while.
OIDC mode: tokens come from the provider and are checked against its JWKS (issuer, audience, signature,
expiry); roles are read from a configurable claim.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

import jwt
import structlog
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from core.access import Principal, Role
from core.db import utcnow
from core.errors import Conflict, NotFound, Refused, Unauthenticated
from core.settings import Settings, get_settings
from core.signing import MAX_SKEW_S
from db.identity import ApiKey, AuditEntry, RefreshToken, SignedPush, User

log = structlog.get_logger(__name__)
_hasher = PasswordHasher()
# A hash to verify against when the user does not exist, so an unknown name costs as long as a wrong password
_NOBODY = _hasher.hash(secrets.token_urlsafe(16))
API_KEY_PREFIX = "sk"


class BadCredentials(Unauthenticated):
    pass


class AccountLocked(Unauthenticated):
    pass


@dataclass(frozen=True)
class Tokens:
    access_token: str
    refresh_token: str
    expires_in: int
    token_type: str = "bearer"


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _roles(text: str) -> frozenset[Role]:
    return frozenset(Role(r) for r in text.split(",") if r)


def principal_of(user: User) -> Principal:
    return Principal(id=user.id, roles=_roles(user.roles), department=user.department, agent_id=user.agent_id)


DEV_TOKEN_SECRET = Settings.model_fields["auth_token_secret"].default


def check_settings(s: Settings) -> None:
    """Refuse to serve with the repository's own token key: anyone who read it could sign an admin token.
    The embedded default keeps it only while it serves demo users (`make run`, the tests)."""
    if s.auth_mode == "embedded" and not s.demo_users and (
            s.auth_token_secret == DEV_TOKEN_SECRET or len(s.auth_token_secret) < 32):
        raise RuntimeError("set SIMBO_AUTH_TOKEN_SECRET to a random key of at least 32 characters "
                           "(or SIMBO_AUTH_MODE=oidc) before serving without demo users")


# ---- users -------------------------------------------------------------------------------------------


def add_user(session: Session, name: str, password: str, roles: list[Role], department: str | None = None,
             agent_id: str | None = None) -> User:
    if session.get(User, name) is not None:
        raise Conflict(f"user {name} exists", type="user_exists")
    if len(password) < 8:
        raise Refused("a password has at least 8 characters", type="weak_password")
    _check_scope(roles, department, agent_id)
    user = User(id=name, password_hash=_hasher.hash(password), roles=",".join(sorted(roles)), department=department,
                agent_id=agent_id)
    session.add(user)
    session.commit()
    session.refresh(user)
    return user


def set_roles(session: Session, name: str, roles: list[Role], department: str | None = None) -> User:
    user = _user(session, name)
    _check_scope(roles, department, user.agent_id)
    user.roles, user.department = ",".join(sorted(roles)), department
    session.add(user)
    session.commit()
    session.refresh(user)
    return user


def set_disabled(session: Session, name: str, disabled: bool) -> User:
    user = _user(session, name)
    user.disabled = disabled
    if not disabled:
        user.failed_sign_ins, user.locked_until = 0, None
    session.add(user)
    session.commit()
    session.refresh(user)
    return user


def _check_scope(roles: list[Role], department: str | None, agent_id: str | None) -> None:
    if Role.AGENT in roles and not agent_id:
        raise Refused("an agent user names its agent", type="agent_missing")
    if Role.COMPLAINT_HANDLER in roles and not department and not {Role.TEAM_LEAD, Role.MANAGER, Role.ADMIN} & set(roles):
        raise Refused("a complaint handler names its department", type="department_missing")


def _user(session: Session, name: str) -> User:
    user = session.get(User, name)
    if user is None:
        raise NotFound(f"unknown user {name}", type="unknown_user")
    return user


# ---- signing in ----------------------------------------------------------------------------------------


def sign_in(session: Session, name: str, password: str, now: datetime | None = None) -> Tokens:
    """Tokens for a right name and password. Wrong ones count; after `sign_in_max_failures` in a row the
    account is locked for `sign_in_lock_s` (also against the right password), and the answer never says
    whether the name exists."""
    s, now = get_settings(), now or utcnow()
    if s.auth_mode == "oidc":
        raise NotFound("sign in with the OpenID Connect provider; this API issues no tokens of its own here",
                       type="embedded_sign_in_off")
    user = session.get(User, name, with_for_update=True)  # parallel guesses count one after the other
    if user is None:
        _verify(_NOBODY, password)
        raise BadCredentials("wrong user name or password", type="bad_credentials")
    if user.locked_until and user.locked_until > now:
        raise AccountLocked(f"too many failed sign-ins; try again after {user.locked_until:%H:%M} UTC",
                            type="account_locked")
    if not _verify(user.password_hash, password) or user.disabled:
        user.failed_sign_ins += 1
        if user.failed_sign_ins >= s.sign_in_max_failures:
            user.locked_until, user.failed_sign_ins = now + timedelta(seconds=s.sign_in_lock_s), 0
            log.warning("account locked after failed sign-ins", user=name)
        session.add(user)
        session.commit()
        raise BadCredentials("wrong user name or password", type="bad_credentials")
    user.failed_sign_ins, user.locked_until = 0, None
    session.add(user)
    tokens = _issue(session, user, now)
    session.commit()
    return tokens


def refresh(session: Session, refresh_token: str, now: datetime | None = None) -> Tokens:
    """New tokens for a refresh token; each refresh token works once."""
    now = now or utcnow()
    row = session.get(RefreshToken, _sha256(refresh_token), with_for_update=True)  # two refreshes: one wins
    if row is None or row.used_at is not None or row.expires_at <= now:
        raise BadCredentials("the refresh token is unknown, used or expired", type="bad_refresh_token")
    user = session.get(User, row.user_id)
    if user is None or user.disabled:
        raise BadCredentials("the account is disabled", type="account_disabled")
    row.used_at = now
    session.add(row)
    tokens = _issue(session, user, now)
    session.commit()
    return tokens


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def access_token(principal: Principal, now: datetime | None = None) -> str:
    """A signed, short-lived access token naming the principal (embedded issuer)."""
    s, now = get_settings(), now or utcnow()
    claims = {"iss": s.auth_issuer, "aud": s.auth_audience, "sub": principal.id, "roles": sorted(principal.roles),
              "department": principal.department, "agent_id": principal.agent_id, "iat": int(now.timestamp()),
              "exp": int(now.timestamp()) + s.access_token_ttl_s, "jti": uuid.uuid4().hex}
    return jwt.encode(claims, s.auth_token_secret, algorithm="HS256")


def _issue(session: Session, user: User, now: datetime) -> Tokens:
    s = get_settings()
    access = access_token(principal_of(user), now)
    opaque = secrets.token_urlsafe(32)
    session.add(RefreshToken(id=_sha256(opaque), user_id=user.id,
                             expires_at=now + timedelta(seconds=s.refresh_token_ttl_s), created_at=now))
    return Tokens(access_token=access, refresh_token=opaque, expires_in=s.access_token_ttl_s)


# ---- checking a token ------------------------------------------------------------------------------------


def principal_from_token(token: str, settings: Settings | None = None) -> Principal:
    """The caller a bearer token names, or Unauthenticated. Pure CPU in embedded mode; in OIDC mode the JWKS
    is fetched once and cached by PyJWT's client."""
    s = settings or get_settings()
    try:
        if s.auth_mode == "oidc":
            key = _jwks(s.oidc_jwks_url).get_signing_key_from_jwt(token).key
            claims = jwt.decode(token, key, algorithms=["RS256", "ES256"], audience=s.oidc_audience,
                                issuer=s.oidc_issuer, options={"require": ["exp", "iss", "aud", "sub"]})
            roles = _claim(claims, s.oidc_roles_claim) or []
            known = {r.value for r in Role}
            return Principal(id=claims.get("preferred_username") or claims["sub"],
                             roles=frozenset(Role(r) for r in roles if r in known),
                             department=_claim(claims, s.oidc_department_claim),
                             agent_id=_claim(claims, s.oidc_agent_claim))
        claims = jwt.decode(token, s.auth_token_secret, algorithms=["HS256"], audience=s.auth_audience,
                            issuer=s.auth_issuer, options={"require": ["exp", "iss", "aud", "sub"]})
    except jwt.ExpiredSignatureError:
        raise Unauthenticated("the token has expired; sign in again or refresh", type="token_expired") from None
    except (jwt.InvalidTokenError, jwt.PyJWKClientError, ValueError) as err:
        raise Unauthenticated(f"invalid token: {err}", type="invalid_token") from None
    known = {r.value for r in Role}
    return Principal(id=claims["sub"], roles=frozenset(Role(r) for r in claims.get("roles", []) if r in known),
                     department=claims.get("department"), agent_id=claims.get("agent_id"))


@lru_cache(maxsize=4)
def _jwks(url: str) -> jwt.PyJWKClient:
    return jwt.PyJWKClient(url, cache_keys=True, lifespan=3600)


def _claim(claims: dict[str, Any], path: str) -> Any:
    value: Any = claims
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


# ---- merchants' API keys ---------------------------------------------------------------------------------


def create_api_key(session: Session, merchant_id: str, created_by: str) -> tuple[ApiKey, str]:
    """A new key for the merchant; the whole key is returned this once. Older keys stay valid until revoked,
    so a merchant rotates without downtime (two keys live at once)."""
    from db.refunds import Merchant  # the merchant table belongs to the refunds business

    if session.get(Merchant, merchant_id) is None:
        raise NotFound(f"unknown merchant {merchant_id}", type="unknown_merchant")
    prefix = f"{API_KEY_PREFIX}_{merchant_id}_{secrets.token_hex(3)}"
    key = f"{prefix}.{secrets.token_urlsafe(32)}"
    row = ApiKey(id=prefix, merchant_id=merchant_id, secret_hash=_sha256(key), created_by=created_by)
    session.add(row)
    session.commit()
    session.refresh(row)
    return row, key


def revoke_api_key(session: Session, merchant_id: str, prefix: str, now: datetime | None = None) -> ApiKey:
    row = session.get(ApiKey, prefix)
    if row is None or row.merchant_id != merchant_id:
        raise NotFound(f"merchant {merchant_id} has no key {prefix}", type="unknown_api_key")
    row.revoked_at = row.revoked_at or now or utcnow()
    session.add(row)
    session.commit()
    session.refresh(row)
    return row


def api_keys(session: Session, merchant_id: str) -> list[ApiKey]:
    return list(session.exec(select(ApiKey).where(ApiKey.merchant_id == merchant_id).order_by(ApiKey.created_at)))


def principal_from_api_key(session: Session, key: str, now: datetime | None = None) -> Principal:
    prefix = key.split(".", 1)[0]
    row = session.get(ApiKey, prefix)
    if row is None or row.revoked_at is not None or not secrets.compare_digest(row.secret_hash, _sha256(key)):
        raise Unauthenticated("unknown or revoked API key", type="invalid_api_key")
    now = now or utcnow()
    if row.last_used_at is None or now - row.last_used_at > timedelta(minutes=1):  # not one write per request
        row.last_used_at = now
        session.add(row)
        session.commit()
    return Principal(id=f"merchant:{row.merchant_id}", roles=frozenset({Role.MERCHANT}), merchant_id=row.merchant_id)


# ---- the audit log -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AuditFilter:
    actor: str | None = None
    action: str | None = None  # a substring of "METHOD /route"
    target: str | None = None  # a substring of the ids
    outcome_from: int | None = None
    since: datetime | None = None
    until: datetime | None = None


def record(session: Session, entry: AuditEntry) -> None:
    session.add(entry)
    session.commit()


REPAIR_ACTOR = "system:repair"


def record_repairs(session: Session, action: str, targets: list[str]) -> None:
    """What the repair pass healed, on the audit log (one line each; `repairs_done` counts them): the caller
    commits, with the step itself."""
    session.add_all(AuditEntry(actor=REPAIR_ACTOR, roles="", action=action, target=t, outcome=200, client="",
                               request_id="") for t in targets)


def repairs_done(session: Session) -> dict[str, int]:
    """How many repairs the pass has made, by what it did (a gauge of /metrics)."""
    from sqlalchemy import func

    rows = session.exec(select(AuditEntry.action, func.count()).where(AuditEntry.actor == REPAIR_ACTOR)
                        .group_by(AuditEntry.action)).all()
    return {action: int(n) for action, n in rows}


def audit_entries(session: Session, f: AuditFilter, limit: int, offset: int) -> tuple[list[AuditEntry], int]:
    from sqlalchemy import func
    from sqlmodel import col

    conds = []
    if f.actor:
        conds.append(AuditEntry.actor == f.actor)
    if f.action:
        conds.append(col(AuditEntry.action).contains(f.action))
    if f.target:
        conds.append(col(AuditEntry.target).contains(f.target))
    if f.outcome_from is not None:
        conds.append(AuditEntry.outcome >= f.outcome_from)
    if f.since:
        conds.append(AuditEntry.at >= f.since)
    if f.until:
        conds.append(AuditEntry.at < f.until)
    total = session.exec(select(func.count()).select_from(AuditEntry).where(*conds)).one()
    rows = session.exec(select(AuditEntry).where(*conds).order_by(col(AuditEntry.id).desc()).offset(offset).limit(limit))
    return list(rows), total


AUDIT_COLUMNS = ("id", "at", "actor", "roles", "action", "target", "outcome", "client", "request_id")


def audit_cells(entry: AuditEntry) -> list:
    return [entry.id, entry.at.isoformat(), entry.actor, entry.roles, entry.action, entry.target, entry.outcome,
            entry.client, entry.request_id]


# ---- signed pushes ---------------------------------------------------------------------------------------


def first_time_seen(session: Session, source: str, request_id: str, now: datetime | None = None) -> bool:
    """Remember a signed push's request id; False when it was seen within the window (a replay). Ids older than
    twice the window go: their timestamps would fail the signature check anyway."""
    now = now or utcnow()
    session.exec(delete(SignedPush).where(SignedPush.seen_at < now - timedelta(seconds=2 * MAX_SKEW_S)))
    session.add(SignedPush(source=source, request_id=request_id, seen_at=now))
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        log.warning("replayed signed push refused", source=source, request_id=request_id)
        return False
    return True
