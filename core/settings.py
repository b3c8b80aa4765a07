"""All configuration in one place. Every value has an embedded default so `make run` needs nothing."""

from functools import lru_cache
from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict

from core.signing import key_ring

ROOT = Path(__file__).resolve().parent.parent
VAR = ROOT / "var"
# Who may push to us: the four carriers, the logistics provider, the SMS gateway
PUSH_SOURCES = ("china_mobile", "china_unicom", "china_telecom", "china_broadnet", "logistics", "sms-gateway")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SIMBO_", env_file=".env", extra="ignore")

    # Temporal
    temporal_address: str = "localhost:7233"
    temporal_namespace: str = "default"
    max_cached_workflows: int = 20_000
    # Worker tuning, set from measurements on two cores (docs/performance.md, "Worker tuning"); 0: the SDK's default
    worker_workflow_tasks: int = 10  # workflow tasks one worker runs at once (SDK: 100)
    worker_workflow_pollers: int = 2  # concurrent polls of a workflow task queue (SDK: 5)
    worker_sticky_timeout_s: float = 30.0  # a task waits this long for the worker that caches its workflow (SDK: 10)
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

    # Signed pushes to us: each source its own key ring ("new,old": the first signs, both verify while a key
    # rotates). JSON in SIMBO_PUSH_SECRETS, e.g. {"china_mobile": "k2,k1", "logistics": "...", "sms-gateway": "..."}
    push_secrets: dict[str, str] = {source: f"dev-push-{source}" for source in PUSH_SOURCES}

    # Carrier integration: one shared-key protocol, one URL per carrier (the simulator serves all four)
    carrier_base_url: str = "http://localhost:8100"
    carrier_api_secret: str = "dev-carrier-secret"  # HMAC key ring of our calls to carriers
    payout_base_url: str = "http://localhost:8100"

    # Payment channels (the simulator serves them all) and merchant callbacks
    channel_base_url: str = "http://localhost:8300"
    channel_api_secret: str = "dev-channel-secret"  # HMAC key ring of our calls to payment channels
    # A channel's own key ring, where the channel gave us one (JSON in SIMBO_CHANNEL_API_SECRETS, e.g.
    # {"unionpay": "k2,k1"}); a channel not named here is signed with channel_api_secret (docs/refunds.md)
    channel_api_secrets: dict[str, str] = {}
    channel_timeout_s: float = 10.0  # past this a refund request is UNKNOWN and settled by query-back
    merchant_notify_secret: str = "dev-merchant-secret"  # default HMAC key of merchants' callbacks (demo)
    refund_send_timeout_s: int = 20  # activity limit of one refund request; keep above channel_timeout_s
    refund_query_backs_s: str = "5,30,120"  # query-backs of an unclear answer before the sweep takes over
    refund_sweep_every_s: int = 60  # the Schedule that queries back refunds still processing

    # Settlement: the Schedule starts each carrier's batch on this day of the month after month end
    settlement_schedule_day: int = 3

    # Finance (docs/finance.md). Which commission is paid when the carrier's audit differs from the product's figure,
    # per carrier: "audited" (default), "expected" or "lower" (domain/finance/reconciliation.py)
    finance_paid_figure: dict[str, str] = {}
    # Invoices are mailed as PDF through this SMTP server (make run and the tests start a local sink on 8025)
    finance_smtp_host: str = "127.0.0.1"
    finance_smtp_port: int = 8025
    finance_smtp_starttls: bool = False  # production: true (port 587), with the user and password below
    finance_smtp_user: str = ""
    finance_smtp_password: str = ""
    finance_smtp_timeout_s: float = 20.0
    finance_mail_sender: str = "finance@simbo.local"
    finance_invoice_seller: str = "Simbo SIM Distribution Co., Ltd."  # the issuer named on every invoice
    finance_invoice_seller_tax_number: str = "91440300MA5SIMBO01"

    # Complaint desk: SMS gateway and billing system (one simulator serves both by default)
    sms_base_url: str = "http://localhost:8200"
    sms_api_secret: str = "dev-sms-secret"  # HMAC key of our calls to the SMS gateway
    billing_base_url: str = "http://localhost:8200"
    billing_api_secret: str = "dev-billing-secret"
    # Department notices (supervision, crisis reports, warnings): each department's signed webhook and/or e-mail
    # address, as JSON objects {"billing": "http://..."}; a department with neither reads its API inbox only.
    complaint_notice_webhooks: dict[str, str] = {}
    complaint_notice_secret: str = "dev-notice-secret"  # HMAC key of the notice webhooks we call
    complaint_notice_emails: dict[str, str] = {}
    # Agents' own systems: each agent's signed webhook {"A002": "https://..."}; every notice of its inbox goes there
    # too (an agent without one reads its inbox in the API)
    agent_webhooks: dict[str, str] = {}
    agent_webhook_secret: str = "dev-agent-webhook-secret"  # HMAC key ring of the agent webhooks we call
    smtp_host: str = ""  # empty: no e-mail is sent (the inbox and the webhooks still deliver)
    smtp_port: int = 25
    smtp_sender: str = "complaint-desk@simbo.local"
    complaint_notice_repeat_h: int = 24  # an unacknowledged notice is delivered again after this (the daily rule)
    # Care SMS (complaint procedure 8.0.2): at most this many per customer and calendar month, except the answers to the
    # customer's own complaint (kinds not listed in complaint_care_sms_kinds)
    complaint_care_sms_per_month: int = 1
    complaint_care_sms_kinds: list[str] = ["survey"]
    # KPI targets (complaint procedure 4.4, 4.6.1; where the procedure gives none, ours: docs/complaints.md)
    complaint_target_on_time_rate: float = 0.98
    complaint_target_reply_rate: float = 0.98
    complaint_target_vip_reply_rate: float = 1.0
    complaint_target_transfer_on_time_rate: float = 0.98
    complaint_target_repeat_rate_max: float = 0.10  # the band is 5%-10%
    complaint_target_satisfaction_rate: float = 0.98
    complaint_target_uninformed_per_10k_max: float = 7.0  # the band is 5-7 per 10,000
    complaint_target_unqualified_replies: int = 0
    complaint_target_crisis_reports: int = 0
    complaint_target_escalations: int = 0
    complaint_target_unacknowledged_notices: int = 0
    # Transfer deadline per level in hours (complaint procedure 4.3.7 names one per urgency; the table is not in it)
    complaint_transfer_within_h: dict[str, float] = {"1": 1, "2": 2, "3": 4, "4": 8, "regulator": 8}
    # Customers per department, the base of the "subscribed without knowing" rate per 10,000; "all" is the city
    complaint_customer_base: dict[str, int] = {"all": 1_200_000, "branch_shunqing": 420_000,
                                                "branch_gaoping": 380_000, "branch_jialing": 400_000}

    # Agent accounts: the admin's answer to an appeal is due this long after filing; admins are reminded this
    # long before it is due, and the appeal is escalated when it is late (agent accounts 4.1)
    agent_appeal_answer_hours: int = 48
    agent_appeal_remind_before_hours: int = 24
    # Appeal attachments are stored here, each file named by its id (agent accounts 4.2)
    agent_attachments_dir: str = str(VAR / "attachments")
    agent_attachment_max_bytes: int = 5 * 1024 * 1024

    # Delivery (settlement rules 1.8, 1.9): an order with no news this long is stale (placed -> carrier accepted,
    # accepted -> shipped, shipped -> any courier news); an open rescue reminds the agent this often and, with no
    # resolution after its days, ends the order as delivery_failed. Copied into each order at placement.
    order_acceptance_window_hours: int = 24
    order_shipment_window_hours: int = 72
    order_logistics_window_hours: int = 72
    order_rescue_reminder_hours: int = 24
    order_rescue_give_up_days: int = 7

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

    # The repair pass: rows whose workflow was never started, or whose event was never signalled, this long
    # after their write (a request still in flight finishes its own step first)
    repair_grace_s: int = 30
    repair_every_s: int = 300
    # Fault injection for the repair tests, honoured only with demo users: the API process dies at this point
    # (e.g. "order": after the order row is stored, before its workflow starts)
    crash_at: str = ""
    # Customer data protection (core/crypto.py, docs/data-protection.md): the key ring of payload encryption,
    # sealed database columns and keyed fingerprints. "<id>:<base64 of 32 bytes>,..." (every key readable), the
    # active one writes (default: the first). The default is the repository's development ring, refused
    # outside development (no demo users).
    data_keys: str = "dev1:qbrA06sMQnELCVPxq/IjQ4+bc3pLwuFnwrVkQG3Ck4U="
    data_key_active: str = ""
    # The codec server the Temporal Web UI asks to decode payloads (scripts/codec_server.py)
    codec_port: int = 8400
    codec_cors_origins: str = "http://localhost:8233"  # the Web UI's origin(s), comma-separated

    log_json: bool = False

    # Observability (docs/architecture.md, "Observability"). The API's /metrics answers a caller with
    # `Authorization: Bearer <metrics_token>` when one is set, else only loopback and private networks.
    metrics_token: str = ""
    worker_metrics_address: str = "127.0.0.1:9464"  # the Temporal SDK's Prometheus metrics of the worker; "" = off
    # Traces: "off", "console" (spans printed, for a developer) or "otlp" (to an OpenTelemetry collector)
    tracing: str = "off"
    otlp_endpoint: str = "http://localhost:4318/v1/traces"
    service_name: str = ""  # empty: simbo-api / simbo-worker

    # Fulfilment (docs/fulfilment.md): the number stock and paid orders
    stock_reservation_minutes: int = 30  # placing an order reserves its number; not confirmed by then, it lapses
    stock_quarantine_days: int = 30  # a number back from a failed order rests this long before it is sold again
    stock_low_level: int = 20  # fewer available numbers of a product than this: ops get a low-stock alert
    order_merchant_id: str = "simbo-shop"  # the platform's own shop, whose payments the customers' order payments are

    # Worker Versioning: workers announce a deployment and a build; a workflow stays on the build it started on
    # (pinned) unless its type says it may move (auto-upgrade). Empty build id: the git commit of the checkout.
    worker_versioning: bool = False
    worker_deployment_name: str = "simbo"
    worker_build_id: str = ""

    def push_keys(self, source: str) -> list[str]:
        """The key ring of one push source; none for a source we do not know."""
        return key_ring(self.push_secrets.get(source, ""))

    def built_in_secrets_in_use(self) -> list[str]:
        """The settings still holding a key that ships in this repository (anyone who read it could sign)."""
        defaults = Settings.model_construct()
        found = [name for name in SHARED_SECRETS if set(key_ring(getattr(self, name))) & set(key_ring(getattr(defaults, name)))]
        found += [f"push_secrets[{src}]" for src in self.push_secrets
                  if set(self.push_keys(src)) & set(key_ring(defaults.push_secrets.get(src, "")))]
        found += [f"channel_api_secrets[{ch}]" for ch, ring in self.channel_api_secrets.items()
                  if set(key_ring(ring)) & set(key_ring(defaults.channel_api_secret))]
        return found

    def channel_secret(self, channel: str) -> str:
        """The key ring our calls to this payment channel are signed with."""
        return self.channel_api_secrets.get(channel) or self.channel_api_secret


# The HMAC keys shared with a counterparty (each a key ring)
SHARED_SECRETS = ("carrier_api_secret", "channel_api_secret", "merchant_notify_secret", "sms_api_secret",
                  "billing_api_secret", "complaint_notice_secret", "agent_webhook_secret")  # the token key is checked with identity (services/identity.py)


def check_secrets(s: Settings, what: str) -> None:
    """Outside development (demo users off) no process starts with a key that ships in the repository."""
    if not s.demo_users and (found := s.built_in_secrets_in_use()):
        raise RuntimeError(f"{what} refuses to start with built-in keys: set {', '.join(found)} "
                           "(SIMBO_* environment variables) to keys of your own")


@lru_cache
def get_settings() -> Settings:
    return Settings()
