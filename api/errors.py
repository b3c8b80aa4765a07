"""Every error the API answers has one body: `{"status": 409, "type": "agent_suspended", "reason": "..."}`.

Business errors come from the services (core.errors); FastAPI's own (validation, unknown route, wrong method)
and the few HTTPExceptions the routes raise are put in the same shape here, and the OpenAPI document
declares it for every error response.
"""

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.schemas import ErrorBody
from core.errors import BusinessError
from core.limits import MAX_JSON_DEPTH

TYPE_OF_STATUS = {400: "bad_request", 401: "unauthenticated", 403: "forbidden", 404: "not_found",
                  405: "method_not_allowed", 409: "conflict", 413: "too_large", 415: "unsupported_media_type",
                  422: "invalid_request", 502: "peer_failed", 503: "unavailable"}


MAX_PROBLEMS, MAX_FIELD, MAX_PROBLEM = 20, 120, 300


def body(status: int, type_: str, reason: str, **extra: Any) -> JSONResponse:
    return JSONResponse(status_code=status, content=ErrorBody(status=status, type=type_, reason=reason, **extra)
                        .model_dump(exclude_none=True))


def _where(loc: tuple) -> str:
    return ".".join(str(p) for p in loc if p != "body") or "body"


def install(app: FastAPI) -> None:
    @app.exception_handler(BusinessError)
    async def business_error(_: Request, err: BusinessError) -> JSONResponse:
        return body(err.status, err.type, err.reason)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, err: StarletteHTTPException) -> JSONResponse:
        reason = err.detail if isinstance(err.detail, str) else str(err.detail)
        response = body(err.status_code, TYPE_OF_STATUS.get(err.status_code, "error"), reason)
        for name, value in (err.headers or {}).items():
            response.headers[name] = value
        return response

    @app.exception_handler(RecursionError)
    async def nested_too_deep(_: Request, err: RecursionError) -> JSONResponse:
        # the last guard: JSON nesting is refused before parsing (core/limits.py), any other recursion is input too
        return body(400, "too_deeply_nested", f"the input nests deeper than {MAX_JSON_DEPTH} levels")

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, err: RequestValidationError) -> JSONResponse:
        # never the input itself, and never more than a screenful: a 20 MB body gets a small answer
        problems = [{"field": _where(e.get("loc", ()))[:MAX_FIELD], "problem": e.get("msg", "")[:MAX_PROBLEM]}
                    for e in err.errors()[:MAX_PROBLEMS]]
        reason = "; ".join(f"{p['field']}: {p['problem']}" for p in problems) or "invalid request"
        return body(422, "invalid_request", reason, errors=problems)

    def openapi() -> dict:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        components["ErrorBody"] = ErrorBody.model_json_schema(ref_template="#/components/schemas/{model}")
        components.pop("HTTPValidationError", None)
        components.pop("ValidationError", None)
        error_ref = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}
        for path in schema.get("paths", {}).values():
            for operation in path.values():
                # any answer a route does not list (400 unreadable body, 401, 403, 413, 503 ...) is an error body
                operation.setdefault("responses", {}).setdefault(
                    "default", {"description": "any other error: the error body with its status"})
                for code, response in operation.get("responses", {}).items():
                    if code == "default":
                        response["content"] = error_ref
                    if code[:1] in "45":
                        response["content"] = error_ref
                        if code == "422":
                            response["description"] = response.get("description", "Validation Error")
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
