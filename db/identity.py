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
