"""All configuration in one place. Every value has an embedded default so `make run` needs nothing."""

from functools import lru_cache
from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict

ROOT = Path(__file__).resolve().parent.parent
VAR = ROOT / "var"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SIMBO_", env_file=".env", extra="ignore")

    # Temporal
    temporal_address: str = "localhost:7233"
    temporal_namespace: str = "default"
    max_cached_workflows: int = 20_000
    temporal_ui_port: int = 8233
    # A production cluster or Temporal Cloud: mTLS (client certificate and key, the server's CA) and/or an API key
    temporal_tls: bool = False
    temporal_tls_client_cert: str = ""  # path to a PEM file
    temporal_tls_client_key: str = ""
    temporal_tls_server_ca: str = ""  # empty: the system's CAs
    temporal_tls_server_name: str = ""  # when the address is not the certificate's name
    temporal_api_key: str = ""

    # Business database (SQLite file by default, PostgreSQL in production)
    database_url: str = f"sqlite:///{VAR / 'simbo.db'}"

    # Our API
    api_base_url: str = "http://localhost:8000"

    # Carrier integration: one shared-key protocol, one URL per carrier (the simulator serves all four)
    carrier_base_url: str = "http://localhost:8100"
    carrier_push_secret: str = "dev-carrier-secret"  # HMAC key of pushes carriers send us
    carrier_api_secret: str = "dev-carrier-secret"  # HMAC key of our calls to carriers
    payout_base_url: str = "http://localhost:8100"

    # Payment channels (the simulator serves them all) and merchant callbacks
    channel_base_url: str = "http://localhost:8300"
    channel_api_secret: str = "dev-channel-secret"  # HMAC key of our calls to payment channels
    channel_timeout_s: float = 10.0  # past this a refund request is UNKNOWN and settled by query-back
    merchant_notify_secret: str = "dev-merchant-secret"  # default HMAC key of merchants' callbacks (demo)
    refund_send_timeout_s: int = 20  # activity limit of one refund request; keep above channel_timeout_s
    refund_query_backs_s: str = "5,30,120"  # query-backs of an unclear answer before the sweep takes over
    refund_sweep_every_s: int = 60  # the Schedule that queries back refunds still processing

    # Settlement: the Schedule starts each carrier's batch on this day of the month after month end
    settlement_schedule_day: int = 3

    # Complaint desk: SMS gateway and billing system (one simulator serves both by default)
    sms_base_url: str = "http://localhost:8200"
    sms_api_secret: str = "dev-sms-secret"  # HMAC key of our calls to the SMS gateway
    sms_push_secret: str = "dev-sms-secret"  # HMAC key of the inbound SMS the gateway pushes to us
    billing_base_url: str = "http://localhost:8200"
    billing_api_secret: str = "dev-billing-secret"

    # Identity. "embedded": the API is its own issuer (users in the database, /auth/token); "oidc": tokens of an
    # OpenID Connect provider (Keycloak in production), checked against its JWKS.
    auth_mode: str = "embedded"
    auth_token_secret: str = "dev-token-secret-change-me-in-production"  # HMAC key of embedded tokens
    auth_issuer: str = "simbo"
    auth_audience: str = "simbo-api"
    access_token_ttl_s: int = 900
    refresh_token_ttl_s: int = 8 * 3600
    sign_in_max_failures: int = 5  # then the account is locked for sign_in_lock_s
    sign_in_lock_s: int = 900
    oidc_issuer: str = ""
    oidc_audience: str = "simbo-api"
    oidc_jwks_url: str = ""
    oidc_roles_claim: str = "realm_access.roles"  # dotted path to the list of role names in the token
    oidc_department_claim: str = "department"
    oidc_agent_claim: str = "agent_id"
    demo_users: bool = True  # `make run` creates one user per role (never in production)

    log_json: bool = False

    # Observability (docs/architecture.md, "Observability"). The API's /metrics answers a caller with
    # `Authorization: Bearer <metrics_token>` when one is set, else only loopback and private networks.
    metrics_token: str = ""
    worker_metrics_address: str = "127.0.0.1:9464"  # the Temporal SDK's Prometheus metrics of the worker; "" = off
    # Traces: "off", "console" (spans printed, for a developer) or "otlp" (to an OpenTelemetry collector)
    tracing: str = "off"
    otlp_endpoint: str = "http://localhost:4318/v1/traces"
    service_name: str = ""  # empty: simbo-api / simbo-worker

    # Worker Versioning: workers announce a deployment and a build; a workflow stays on the build it started on
    # (pinned) unless its type says it may move (auto-upgrade). Empty build id: the git commit of the checkout.
    worker_versioning: bool = False
    worker_deployment_name: str = "simbo"
    worker_build_id: str = ""


@lru_cache
def get_settings() -> Settings:
    return Settings()
