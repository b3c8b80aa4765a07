"""Request and response models of signing in, the caller's identity, and merchants' API keys."""

from datetime import datetime

from pydantic import BaseModel, Field

from api.schemas import FromRow


class AuditEntryOut(FromRow):
    id: int
    at: datetime
    actor: str
    roles: str
    action: str
    target: str
    outcome: int
    client: str
    request_id: str


class TokenOut(BaseModel):
    access_token: str
    refresh_token: str
    token_type: str = "bearer"
    expires_in: int = Field(description="seconds the access token is valid")


class RefreshIn(BaseModel):
    refresh_token: str = Field(min_length=10, max_length=200)


class MeOut(BaseModel):
    id: str
    roles: list[str]
    permissions: list[str]
    department: str | None = None
    agent_id: str | None = None
    merchant_id: str | None = None


class ApiKeyOut(FromRow):
    id: str = Field(description="the key's visible prefix")
    merchant_id: str
    created_by: str
    created_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None


class NewApiKeyOut(ApiKeyOut):
    key: str = Field(description="the whole key: shown this once, stored only as a hash")
