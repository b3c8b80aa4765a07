"""The size limit of every request body (core/limits.py), a pure-ASGI middleware: a declared Content-Length past
the route's limit is answered 413 before a byte is read; a body sent without one is counted as it streams in and
refused at the first chunk past the limit. Routes that take more than a JSON message name their own limit here.
"""

from __future__ import annotations

import json

from fastapi import FastAPI
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.schemas import ErrorBody
from core.limits import BATCH_BODY_MAX, CODEC_BODY_MAX, JSON_BODY_MAX, UPLOAD_BODY_MAX

# (method, route path) -> bytes; any other route: JSON_BODY_MAX
ROUTE_BODY_MAX = {
    ("POST", "/carrier-events/batch"): BATCH_BODY_MAX,
    ("POST", "/stock/imports"): BATCH_BODY_MAX,  # 50,000 numbers
    ("POST", "/agents/{agent_id}/attachments"): UPLOAD_BODY_MAX,
    ("POST", "/complaints/{complaint_id}/documents"): UPLOAD_BODY_MAX,
    ("POST", "/decode"): CODEC_BODY_MAX,
    ("POST", "/encode"): CODEC_BODY_MAX,
}


def _too_large(limit: int) -> str:
    return f"the request body is larger than {limit} bytes, this route's limit"


class BodyLimit:
    def __init__(self, app: ASGIApp, router_app: FastAPI) -> None:
        self.app = app
        self.router_app = router_app

    def limit_for(self, scope: Scope) -> int:
        for route in self.router_app.router.routes:
            match, _ = route.matches(scope)
            if match == Match.FULL:
                return ROUTE_BODY_MAX.get((scope["method"], getattr(route, "path", "")), JSON_BODY_MAX)
        return JSON_BODY_MAX

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope)
        declared = Headers(scope=scope).get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await _refuse(send, _too_large(limit))
            return
        seen = 0
        started = False

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    # the route answers it with the error body; the except below if nothing catches it
                    raise HTTPException(413, detail=_too_large(limit))
            return message

        async def watched(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted, watched)
        except HTTPException as err:
            if err.status_code != 413 or started:
                raise
            await _refuse(send, str(err.detail))


async def _refuse(send: Send, reason: str) -> None:
    content = json.dumps(ErrorBody(status=413, type="too_large", reason=reason).model_dump(exclude_none=True)).encode()
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(content)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": content})


def install(app: FastAPI) -> None:
    app.add_middleware(BodyLimit, router_app=app)
