"""The codec server: the Temporal Web UI's remote codec (`POST /decode`, `POST /encode`), its own process
(`uvicorn api.codec:app --port 8400`, `make run` and the compose service `codec`).

Temporal stores every payload encrypted (core/crypto.py); the Web UI shows ciphertext unless it asks this server.
It decodes only for a signed-in person whose role may read customer data (`customer_data.read`), and every
decode or encode, allowed or refused, is a line of the audit log. The person is known by the bearer token the
UI passes (`codec.passAccessToken`, production behind the OpenID Connect provider), or in development by the
cookie this server sets at `/sign-in` (the dev server's UI has no sign-in; the UI sends it with "include
cross-origin credentials"). docs/data-protection.md, "Reading histories in the Web UI".
"""

from __future__ import annotations

from typing import Annotated

import structlog
from fastapi import Depends, FastAPI, Form, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from google.protobuf import json_format
from sqlmodel import Session
from temporalio.api.common.v1 import Payloads

from api import audit, errors, limits
from api.deps import get_session, run_db
from core import crypto, logs
from core.access import Permission, Principal
from core.errors import Forbidden, Invalid, Unauthenticated
from core.settings import get_settings
from services import identity

log = structlog.get_logger(__name__)
COOKIE = "simbo_codec_token"
NAMESPACE_HEADER = "X-Namespace"

_SIGN_IN_PAGE = """<!doctype html><meta charset="utf-8"><title>Simbo codec server</title>
<style>body{{font-family:sans-serif;max-width:36em;margin:3em auto}}input{{display:block;margin:.4em 0 1em}}</style>
<h1>Read decoded histories in the Temporal Web UI</h1>
<p>{status}</p>
<form method="post" action="/sign-in"><label>user <input name="username" autocomplete="username"></label>
<label>password <input name="password" type="password" autocomplete="current-password"></label>
<button>sign in</button></form>
<p>Then, in the Web UI: the codec settings (the "data encoder" button at the top right) with this server's address
({base}) and <b>include cross-origin credentials</b> switched on. Only a role allowed to read customer data sees
decoded payloads; everyone else sees them encrypted.</p>
<form method="post" action="/sign-out"><button>sign out</button></form>
"""


def _principal(request: Request) -> Principal:
    header = request.headers.get("authorization", "")
    token = header[7:].strip() if header.lower().startswith("bearer ") else request.cookies.get(COOKIE, "")
    if not token:
        raise Unauthenticated("sign in: the Web UI passes your access token, or open this server's /sign-in",
                              type="unauthenticated")
    principal = identity.principal_from_token(token)
    request.state.principal = principal  # the audit log names who asked, allowed or not
    if not principal.can(Permission.CUSTOMER_DATA_READ):
        raise Forbidden(f"{principal.id} ({principal.role_names or 'no role'}) may not read customer data",
                        type="permission_denied")
    return principal


async def _payloads(request: Request) -> Payloads:
    try:
        return json_format.Parse(await request.body(), Payloads(), ignore_unknown_fields=True)
    except (json_format.ParseError, UnicodeDecodeError) as err:
        raise Invalid(f"a codec request is {{\"payloads\": [{{\"metadata\": {{...}}, \"data\": \"...\"}}]}}: {err}",
                      type="invalid_request") from None


def _answer(payloads) -> JSONResponse:
    return JSONResponse(json_format.MessageToDict(Payloads(payloads=payloads)) or {"payloads": []})


def create_app(codec: crypto.EncryptionCodec | None = None) -> FastAPI:
    s = get_settings()
    if not structlog.is_configured():
        logs.configure(json=s.log_json)
    identity.check_settings(s)
    crypto.check_settings(s)
    codec = codec or crypto.EncryptionCodec()
    app = FastAPI(title="Simbo codec server", description=__doc__, version="0.1.0", docs_url=None, redoc_url=None)
    errors.install(app)
    limits.install(app)
    audit.install(app)
    # The Web UI calls from its own origin, with X-Namespace and (passAccessToken) Authorization headers, or with
    # this server's cookie (includeCredentials): preflight answered here, credentials allowed for those origins.
    app.add_middleware(CORSMiddleware, allow_origins=[o.strip() for o in s.codec_cors_origins.split(",") if o.strip()],
                       allow_credentials=True, allow_methods=["POST", "OPTIONS"],
                       allow_headers=["Authorization", "Content-Type", NAMESPACE_HEADER], max_age=600)

    @app.post("/decode", tags=["codec"])
    async def decode(request: Request) -> JSONResponse:
        request.state.audit_target = f"namespace={request.headers.get(NAMESPACE_HEADER, '')[:64]}"
        principal = _principal(request)
        payloads = await _payloads(request)
        request.state.audit_target += f" payloads={len(payloads.payloads)}"
        try:
            out = await codec.decode(list(payloads.payloads))
        except crypto.KeyRingError as err:
            log.warning("payload not decoded", error=str(err), actor=principal.id)
            out = list(payloads.payloads)  # a retired key: the person sees the ciphertext, not an error
        except Exception as err:  # noqa: BLE001 - a tampered or foreign payload (InvalidTag) is shown as it is
            log.warning("payload not decoded", error=type(err).__name__, actor=principal.id)
            out = list(payloads.payloads)
        log.info("payloads decoded for the Web UI", actor=principal.id, count=len(out),
                 namespace=request.headers.get(NAMESPACE_HEADER, ""))
        return _answer(out)

    @app.post("/encode", tags=["codec"])
    async def encode(request: Request) -> JSONResponse:
        request.state.audit_target = f"namespace={request.headers.get(NAMESPACE_HEADER, '')[:64]}"
        _principal(request)  # the UI encodes what a person types (a signal's input): the same right
        payloads = await _payloads(request)
        return _answer(await codec.encode(list(payloads.payloads)))

    @app.get("/sign-in", response_class=HTMLResponse, include_in_schema=False)
    async def sign_in_page(request: Request) -> HTMLResponse:
        token = request.cookies.get(COOKIE)
        status = "Not signed in."
        if token:
            try:
                p = identity.principal_from_token(token)
                status = (f"Signed in as {p.id} ({p.role_names}): "
                          + ("payloads are decoded for you." if p.can(Permission.CUSTOMER_DATA_READ)
                             else "your roles may not read customer data; payloads stay encrypted."))
            except Unauthenticated:
                status = "Your sign-in expired."
        return HTMLResponse(_SIGN_IN_PAGE.format(status=status, base=str(request.base_url).rstrip("/")))

    @app.post("/sign-in", include_in_schema=False)
    async def sign_in(request: Request, username: Annotated[str, Form()], password: Annotated[str, Form()],
                      session: Annotated[Session, Depends(get_session)]) -> Response:
        request.state.principal = Principal(id=username[:64], roles=frozenset())  # every attempt is on the audit log
        tokens = await run_db(session, identity.sign_in, username, password)
        answer = RedirectResponse("/sign-in", status_code=303)
        # Lax: the dev server's UI and this server are the same site (localhost, other ports), so the UI's
        # cross-origin fetch carries it; HttpOnly: no script of any page reads it.
        answer.set_cookie(COOKIE, tokens.access_token, max_age=s.access_token_ttl_s, httponly=True, samesite="lax",
                          secure=request.url.scheme == "https")
        return answer

    @app.post("/sign-out", include_in_schema=False)
    async def sign_out() -> Response:
        answer = RedirectResponse("/sign-in", status_code=303)
        answer.delete_cookie(COOKIE)
        return answer

    @app.get("/healthz", tags=["ops"])
    async def healthz() -> dict:
        return {"status": "ok", "active_key": codec.ring.active, "readable_keys": sorted(codec.ring.keys)}

    return app


app = create_app()
