"""A stand-in for the SMS gateway and the billing system, speaking the signed protocol for real.

    python -m simulators.sms_billing --port 8200 --state var/sms-billing-sim.json --push-url http://localhost:8000

Our calls (signed with our keys, core/signing.py; 401 with a reason otherwise):
    POST /sms/send          {"message_id","to","text"}              -> {"message_id","status":"sent"}
    POST /billing/credits   {"credit_id","msisdn","amount_fen","note"} -> {"credit_id","status":"credited","reference"}
Both are idempotent by their id: a repeat returns the first answer and sends / credits nothing more.
    POST /departments/notices  a department's notice webhook (signed with the notice key): kept for GET /sim/notices
    POST /agents/notices    an agent's own system: our agent webhook (signed with its key), kept for GET /sim/agent-notices

Customers' answers reach our API as the gateway would send them: POST /sim/reply {"from","text"} makes the
gateway push a signed inbound SMS to `<push-url>/complaints/sms/inbound` and returns our API's answer.

Admin (unsigned): GET /sim/sms?to=, GET /sim/credits, POST /sim/reply, POST /sim/behaviour
{"error_rate","latency_ms","refuse_credit_fen"} (a credit of exactly that amount is refused, 422: the
billing system says no), GET /sim/notices?department=, GET /sim/stats. State survives a restart in the --state JSON file.
"""

import asyncio
import json
import random
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import httpx
import structlog
from fastapi import Depends, FastAPI, HTTPException
from pydantic import BaseModel, Field

from core.http import signed_request
from core.logs import redact
from core.settings import Settings, get_settings
from simulators.scaffold import JsonState, cli, parse_or_422, run, signed_body

log = structlog.get_logger("simulators.sms_billing")


class SendSms(BaseModel):
    message_id: str = Field(min_length=1, max_length=128)
    to: str = Field(pattern=r"^1\d{10}$")
    text: str = Field(min_length=1, max_length=1000)


class Credit(BaseModel):
    credit_id: str = Field(min_length=1, max_length=128)
    msisdn: str = Field(pattern=r"^1\d{10}$")
    amount_fen: int = Field(gt=0)
    note: str = ""


class Reply(BaseModel):
    sender: str = Field(pattern=r"^1\d{10}$", alias="from")
    text: str = Field(min_length=1, max_length=1000)
    message_id: str | None = None


class Behaviour(BaseModel):
    error_rate: float = Field(default=0.0, ge=0.0, le=1.0)
    latency_ms: int = Field(default=0, ge=0, le=60_000)
    refuse_credit_fen: int | None = Field(default=None, gt=0)  # the billing system refuses credits of this amount


class State(BaseModel):
    sms: dict[str, dict] = {}
    credits: dict[str, dict] = {}
    inbound: list[dict] = []
    notices: list[dict] = []
    agent_notices: list[dict] = []
    behaviour: Behaviour = Behaviour()


def create_app(
    settings: Settings | None = None, state_file: str | Path | None = None, push_url: str | None = None
) -> FastAPI:
    s = settings or get_settings()
    # Saved on every change before answering, not debounced: a repeat after a restart must still find the SMS
    # or credit, and send or credit nothing more.
    store = JsonState(state_file, State)
    state, save = store.value, store.save_now  # no /sim/reset here: the model is never replaced
    app = FastAPI(title="SMS gateway and billing simulator")
    push_base = (push_url or s.api_base_url).rstrip("/")

    async def misbehave() -> None:
        if state.behaviour.latency_ms:
            await asyncio.sleep(state.behaviour.latency_ms / 1000)
        if random.random() < state.behaviour.error_rate:
            raise HTTPException(503, detail="simulated outage")

    SmsSigned = Annotated[bytes, Depends(signed_body(s.sms_api_secret, then=misbehave))]  # noqa: N806 - a type alias
    BillingSigned = Annotated[bytes, Depends(signed_body(s.billing_api_secret, then=misbehave))]  # noqa: N806
    NoticeSigned = Annotated[bytes, Depends(signed_body(s.complaint_notice_secret))]  # noqa: N806
    AgentNoticeSigned = Annotated[bytes, Depends(signed_body(s.agent_webhook_secret))]  # noqa: N806

    @app.post("/sms/send")
    async def send(body: SmsSigned) -> dict:
        msg = parse_or_422(SendSms, body)
        if msg.message_id not in state.sms:
            state.sms[msg.message_id] = {"to": msg.to, "text": msg.text, "sent_at": datetime.now(UTC).isoformat()}
            save()
            log.info("SMS sent", message_id=msg.message_id, to=redact(msg.to))
        return {"message_id": msg.message_id, "status": "sent"}

    @app.post("/billing/credits")
    async def credit(body: BillingSigned) -> dict:
        c = parse_or_422(Credit, body)
        done = state.credits.get(c.credit_id)
        if done is None and state.behaviour.refuse_credit_fen == c.amount_fen:
            raise HTTPException(422, detail=f"account of the number cannot take a credit of {c.amount_fen} fen "
                                            "(simulated: number suspended)")
        if done is None:
            done = {"msisdn": c.msisdn, "amount_fen": c.amount_fen, "note": c.note, "reference": f"BL{uuid.uuid4().hex[:10]}",
                    "credited_at": datetime.now(UTC).isoformat()}
            state.credits[c.credit_id] = done
            save()
            log.info("credited", credit_id=c.credit_id, amount_fen=c.amount_fen, msisdn=redact(c.msisdn))
        elif (done["msisdn"], done["amount_fen"]) != (c.msisdn, c.amount_fen):
            raise HTTPException(409, detail=f"credit {c.credit_id} was made with another number or amount")
        return {"credit_id": c.credit_id, "status": "credited", "reference": done["reference"]}

    @app.post("/departments/notices")
    async def department_notice(body: NoticeSigned) -> dict:
        notice = json.loads(body)
        state.notices.append({**notice, "received_at": datetime.now(UTC).isoformat()})
        save()
        log.info("department notice received", notice_id=notice.get("notice_id"), department=notice.get("department"),
                 delivery=notice.get("delivery"))
        return {"notice_id": notice.get("notice_id"), "status": "received"}

    @app.post("/agents/notices")
    async def agent_notice(body: AgentNoticeSigned) -> dict:
        """An agent's own system as our agent webhook reaches it (signed with the agent webhook key)."""
        notice = json.loads(body)
        state.agent_notices.append({**notice, "received_at": datetime.now(UTC).isoformat()})
        save()
        log.info("agent notice received", key=notice.get("key"), agent_id=notice.get("agent_id"), kind=notice.get("kind"))
        return {"key": notice.get("key"), "status": "received"}

    @app.get("/sim/agent-notices")
    def list_agent_notices(agent_id: str | None = None, limit: int = 100) -> list[dict]:
        return [n for n in state.agent_notices if agent_id is None or n.get("agent_id") == agent_id][-limit:]

    @app.get("/sim/notices")
    def list_notices(department: str | None = None, limit: int = 100) -> list[dict]:
        return [n for n in state.notices if department is None or n.get("department") == department][-limit:]

    @app.get("/sim/sms")
    def list_sms(to: str | None = None, limit: int = 100) -> list[dict]:
        rows = [{"message_id": k, **v} for k, v in state.sms.items() if to is None or v["to"] == to]
        return rows[-limit:]

    @app.get("/sim/credits")
    def list_credits() -> list[dict]:
        return [{"credit_id": k, **v} for k, v in state.credits.items()]

    @app.post("/sim/reply")
    async def reply(body: Reply) -> dict:
        """The customer answers: the gateway pushes the SMS to our API, signed, and we return its answer."""
        msg = {"message_id": body.message_id or f"in-{uuid.uuid4().hex[:12]}", "from": body.sender, "text": body.text,
               "received_at": datetime.now(UTC).isoformat()}
        raw = json.dumps(msg, ensure_ascii=False).encode()
        async with httpx.AsyncClient(timeout=30) as http:
            r = await http.send(signed_request(http, "POST", f"{push_base}/complaints/sms/inbound", raw,
                                               s.push_secrets.get("sms-gateway", ""), "sms-gateway"))
        state.inbound.append({"message_id": msg["message_id"], "status": r.status_code})
        save()
        try:
            answer = r.json()
        except ValueError:
            answer = {"text": r.text[:200]}
        return {"pushed": msg["message_id"], "status": r.status_code, "answer": answer}

    @app.post("/sim/behaviour")
    def behaviour(b: Behaviour) -> Behaviour:
        state.behaviour = b
        save()
        return b

    @app.get("/sim/stats")
    def stats() -> dict:
        return {"sms": len(state.sms), "credits": len(state.credits), "inbound": len(state.inbound), "notices": len(state.notices),
                "credited_fen": sum(c["amount_fen"] for c in state.credits.values()), "behaviour": state.behaviour}

    return app


def main(argv: list[str] | None = None) -> None:
    p = cli("simulators.sms_billing", __doc__, port=8200, state=None)
    p.add_argument("--push-url", default=None, help="our API (default: settings.api_base_url)")
    run(p, lambda args, s: create_app(s, state_file=args.state, push_url=args.push_url), argv)


if __name__ == "__main__":
    main()
