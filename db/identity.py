"""Who may sign in and call: staff and agent users, their refresh tokens, merchants' API keys."""

from datetime import datetime

from sqlmodel import Field, SQLModel

from core.db import Aware, utcnow


class User(SQLModel, table=True):
    __tablename__ = "app_user"

    id: str = Field(primary_key=True)  # the sign-in name
    password_hash: str  # argon2id
    roles: str  # comma-separated core.access.Role values
    department: str | None = None  # a complaint handler's department
    agent_id: str | None = Field(default=None, foreign_key="agent.id")  # the agent this user signs in as
    disabled: bool = False
    failed_sign_ins: int = 0
    locked_until: datetime | None = Aware(nullable=True)
    created_at: datetime = Aware(nullable=False, default=utcnow)


class RefreshToken(SQLModel, table=True):
    """One refresh token issued (stored as a hash); used once, then replaced."""

    id: str = Field(primary_key=True)  # sha-256 of the token
    user_id: str = Field(foreign_key="app_user.id", index=True)
    expires_at: datetime = Aware(nullable=False)
    used_at: datetime | None = Aware(nullable=True)
    created_at: datetime = Aware(nullable=False, default=utcnow)


class ApiKey(SQLModel, table=True):
    """A merchant's key: shown once, stored as a hash; the prefix names it in lists and logs."""

    id: str = Field(primary_key=True)  # the visible prefix, e.g. "sk_M001_3f9a"
    merchant_id: str = Field(foreign_key="merchant.id", index=True)
    secret_hash: str  # sha-256 of the whole key (keys are long random strings, not passwords)
    created_by: str
    created_at: datetime = Aware(nullable=False, default=utcnow)
    revoked_at: datetime | None = Aware(nullable=True)
    last_used_at: datetime | None = Aware(nullable=True)


class AuditEntry(SQLModel, table=True):
    """One state-changing request by a person or a merchant. Append-only: nothing updates or deletes a row."""

    __tablename__ = "audit_entry"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Aware(nullable=False, default=utcnow, index=True)
    actor: str = Field(index=True)
    roles: str
    action: str = Field(index=True)  # "POST /refunds/{refund_id}/{action}": the route, not the raw URL
    target: str = Field(default="", index=True)  # the ids the request named, e.g. "refund_id=R1 action=approve"
    outcome: int  # the HTTP status answered
    client: str = ""  # the caller's address
    request_id: str = Field(index=True)


class SignedPush(SQLModel, table=True):
    """A signed push's request id, kept for the signature's time window: the same id again is a replay."""

    __tablename__ = "signed_push"

    source: str = Field(primary_key=True)
    request_id: str = Field(primary_key=True)
    seen_at: datetime = Aware(nullable=False, default=utcnow, index=True)
