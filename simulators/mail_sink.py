"""A local SMTP server that keeps every message it receives: the mail server of `make run` and the tests
(aiosmtpd). It speaks real SMTP; each message is kept in memory and, given a folder, written there as
<n>.eml, so invoices mailed in the demo can be opened.

    python -m simulators.mail_sink --port 8025 --dir var/mail
"""

from __future__ import annotations

import argparse
import email
import email.policy
import time
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path

from aiosmtpd.controller import Controller


@dataclass
class MailSink:
    folder: Path | None = None
    messages: list[EmailMessage] = field(default_factory=list)

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: N802 - aiosmtpd's hook name
        msg = email.message_from_bytes(envelope.original_content or envelope.content, policy=email.policy.default)
        self.messages.append(msg)  # type: ignore[arg-type]
        if self.folder is not None:
            self.folder.mkdir(parents=True, exist_ok=True)
            n = len(list(self.folder.glob("*.eml"))) + 1
            (self.folder / f"{n:05d}.eml").write_bytes(envelope.original_content or envelope.content)
        return "250 OK: kept"


def start(port: int, folder: Path | None = None, host: str = "127.0.0.1") -> tuple[Controller, MailSink]:
    sink = MailSink(folder)
    controller = Controller(sink, hostname=host, port=port)
    controller.start()
    return controller, sink


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8025)
    parser.add_argument("--dir", type=Path, default=None, help="write each message here as <n>.eml")
    args = parser.parse_args()
    controller, _ = start(args.port, args.dir, args.host)
    print(f"mail sink on smtp://{args.host}:{args.port}" + (f", messages in {args.dir}" if args.dir else ""), flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
