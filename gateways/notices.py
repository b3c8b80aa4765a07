"""Department notices leave the back office here: a signed webhook per department (core.http, signed with
core.signing) and/or an e-mail (SMTP), as settings say. A department with neither reads its API inbox.

The webhook body carries the notice id and the delivery number, so a receiver recognises a repeat; no phone
number is ever in it (notices name the complaint id).
"""

from __future__ import annotations

import asyncio
import smtplib
from collections.abc import Awaitable, Callable
from email.message import EmailMessage

import httpx

from core.http import PeerRejected, PeerUnavailable, SignedJsonClient

Mailer = Callable[[str, str, str], Awaitable[None]]  # (to, subject, body)


class NoticeGateway(SignedJsonClient):
    def __init__(self, webhooks: dict[str, str], emails: dict[str, str], secret: str, mailer: Mailer | None = None,
                 client: httpx.AsyncClient | None = None) -> None:
        super().__init__("", secret, client=client)
        self.webhooks = webhooks
        self.emails = emails
        self.mailer = mailer

    async def deliver(self, department: str, body: dict, subject: str, text: str) -> str:
        """How the notice reached `department` ("webhook ok", "e-mail ok", "inbox only", or the failure)."""
        done = []
        if url := self.webhooks.get(department):
            try:
                await self._call("POST", url, body)
                done.append("webhook ok")
            except (PeerUnavailable, PeerRejected) as err:
                done.append(f"webhook failed ({err})"[:200])
        if (address := self.emails.get(department)) and self.mailer is not None:
            try:
                await self.mailer(address, subject, text)
                done.append("e-mail ok")
            except (OSError, smtplib.SMTPException) as err:
                done.append(f"e-mail failed ({type(err).__name__}: {err})"[:200])
        return ", ".join(done) or "inbox only"


def smtp_mailer(host: str, port: int, sender: str) -> Mailer:
    async def send(to: str, subject: str, body: str) -> None:
        msg = EmailMessage()
        msg["From"], msg["To"], msg["Subject"] = sender, to, subject
        msg.set_content(body)

        def blocking() -> None:
            with smtplib.SMTP(host, port, timeout=10) as smtp:
                smtp.send_message(msg)

        await asyncio.to_thread(blocking)

    return send


def notice_gateway_from_settings(settings) -> NoticeGateway:
    mailer = smtp_mailer(settings.smtp_host, settings.smtp_port, settings.smtp_sender) if settings.smtp_host else None
    return NoticeGateway(settings.complaint_notice_webhooks, settings.complaint_notice_emails,
                         settings.complaint_notice_secret, mailer)
