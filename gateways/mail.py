"""Our SMTP client: invoices to agents (finance). A real SMTP conversation through `smtplib` (standard library):
STARTTLS and a login when settings ask for them (production), a plain local sink in `make run` and the tests.

The caller gives each message its own Message-ID, so a message sent again after a crash (sent, then the worker
died before recording it) is recognisably the same message to the receiving side.
"""

from __future__ import annotations

import asyncio
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any


class MailUnavailable(Exception):
    """The server could not take the message now (connection refused, timeout, a 4xx answer): try again later."""


class MailRefused(Exception):
    """The server refused the message for good (a 5xx answer: no such mailbox, message refused)."""


@dataclass(frozen=True)
class Attachment:
    filename: str
    content: bytes
    maintype: str = "application"
    subtype: str = "pdf"


@dataclass(frozen=True)
class SmtpMailer:
    host: str
    port: int
    sender: str
    starttls: bool = False
    user: str = ""
    password: str = ""
    timeout_s: float = 20.0

    @classmethod
    def finance(cls, settings: Any) -> SmtpMailer:
        return cls(settings.finance_smtp_host, settings.finance_smtp_port, settings.finance_mail_sender,
                   settings.finance_smtp_starttls, settings.finance_smtp_user, settings.finance_smtp_password,
                   settings.finance_smtp_timeout_s)

    def message(self, to: str, subject: str, body: str, message_id: str,
                attachments: tuple[Attachment, ...] = ()) -> EmailMessage:
        msg = EmailMessage()
        msg["From"], msg["To"], msg["Subject"], msg["Message-ID"] = self.sender, to, subject, message_id
        msg.set_content(body)
        for a in attachments:
            msg.add_attachment(a.content, maintype=a.maintype, subtype=a.subtype, filename=a.filename)
        return msg

    def send_blocking(self, msg: EmailMessage) -> None:
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout_s) as smtp:
                if self.starttls:
                    smtp.starttls(context=ssl.create_default_context())
                if self.user:
                    smtp.login(self.user, self.password)
                smtp.send_message(msg)
        except smtplib.SMTPResponseException as err:
            if 400 <= err.smtp_code < 500:
                raise MailUnavailable(f"SMTP {err.smtp_code}: {err.smtp_error!r}") from err
            raise MailRefused(f"SMTP {err.smtp_code}: {err.smtp_error!r}") from err
        except smtplib.SMTPRecipientsRefused as err:
            raise MailRefused(f"recipient refused: {list(err.recipients)}") from err
        except (OSError, smtplib.SMTPException) as err:
            raise MailUnavailable(f"{type(err).__name__}: {err}") from err

    async def send(self, msg: EmailMessage) -> None:
        await asyncio.to_thread(self.send_blocking, msg)
