"""The data key ring (core/crypto.py): `python -m scripts.keys new|usage|reseal`.

- `new [id]`: a new key entry to put in SIMBO_DATA_KEYS (random 32 bytes), printed once.
- `usage`: how many sealed values and fingerprints each key id still holds, per table (a key retires at zero,
  and once no workflow history written with it is still needed: docs/data-protection.md, "Rotating a key").
- `reseal`: rewrites every sealed column and every recomputable fingerprint with the active key. Orders keep
  their fingerprint (their number is not stored); their key stays readable until those orders are closed.
"""

from __future__ import annotations

import argparse
import base64
import os
from collections import Counter

from sqlalchemy import text
from sqlmodel import Session

from core import crypto
from core.db import get_engine

SEALED = [("complaint", "id", ("msisdn", "text")), ("complaintevent", "id", ("detail",)),
          ("inboundsms", "message_id", ("text",)), ("carriereventrecord", "id", ("raw",)),
          ("order_customer", "order_id", ("msisdn", "recipient_name", "recipient_phone", "district", "street",
                                          "holder_name", "id_number"))]
SEALED_DOCUMENTS = [("complaintdocument", "id", "content")]  # bytes columns (core.db.SealedBytes)
FINGERPRINTED = ["orders", "complaint", "feereturn", "inboundsms"]


def _document_kid(value: bytes | None) -> str | None:
    if not value:
        return None
    value = bytes(value)
    if not value.startswith(crypto.SEALED_BYTES_PREFIX):
        return "clear"
    return value[len(crypto.SEALED_BYTES_PREFIX):].partition(b":")[0].decode()


def new_key(kid: str) -> str:
    return f"{kid}:{base64.b64encode(os.urandom(32)).decode()}"


def usage(session: Session) -> dict[str, Counter]:
    out: dict[str, Counter] = {}
    for table, _, columns in SEALED:
        for column in columns:
            for (value,) in session.exec(text(f"SELECT {column} FROM {table}")):  # type: ignore[call-overload]
                kid = value[len(crypto.SEALED_PREFIX):].partition(":")[0] if value and value.startswith(
                    crypto.SEALED_PREFIX) else ("clear" if value else None)
                if kid:
                    out.setdefault(f"{table}.{column}", Counter())[kid] += 1
    for table, _, column in SEALED_DOCUMENTS:
        for (value,) in session.exec(text(f"SELECT {column} FROM {table}")):  # type: ignore[call-overload]
            if kid := _document_kid(value):
                out.setdefault(f"{table}.{column}", Counter())[kid] += 1
    for table in FINGERPRINTED:
        for (fp,) in session.exec(text(f"SELECT msisdn_fingerprint FROM {table}")):  # type: ignore[call-overload]
            if fp:
                out.setdefault(f"{table}.msisdn_fingerprint", Counter())[fp.partition(".")[0] if "." in fp else "unkeyed"] += 1
    return out


def reseal(session: Session) -> int:
    ring = crypto.key_ring()
    changed = 0
    for table, key, columns in SEALED:
        for row in session.exec(text(f"SELECT {key}, {', '.join(columns)} FROM {table}")).all():  # type: ignore[call-overload]
            values = {c: ring.seal(ring.unseal(v)) for c, v in zip(columns, row[1:], strict=True)
                      if v and not v.startswith(f"{crypto.SEALED_PREFIX}{ring.active}:")}
            if values:
                sets = ", ".join(f"{c} = :{c}" for c in values)
                session.exec(text(f"UPDATE {table} SET {sets} WHERE {key} = :k"), params={**values, "k": row[0]})  # type: ignore[call-overload]
                changed += 1
    for table, key, column in SEALED_DOCUMENTS:
        for row_id, value in session.exec(text(f"SELECT {key}, {column} FROM {table}")).all():  # type: ignore[call-overload]
            if value and _document_kid(value) != ring.active:
                session.exec(text(f"UPDATE {table} SET {column} = :v WHERE {key} = :k"),  # type: ignore[call-overload]
                             params={"v": ring.seal_bytes(ring.unseal_bytes(bytes(value))), "k": row_id})
                changed += 1
    moved: dict[str, str] = {}
    for cid, msisdn, old in session.exec(text("SELECT id, msisdn, msisdn_fingerprint FROM complaint")).all():  # type: ignore[call-overload]
        new = ring.fingerprint(ring.unseal(msisdn))
        if new != old:
            moved[old] = new
            session.exec(text("UPDATE complaint SET msisdn_fingerprint = :fp WHERE id = :id"), params={"fp": new, "id": cid})  # type: ignore[call-overload]
            changed += 1
    for oid, phone, id_number in session.exec(text(  # type: ignore[call-overload]
            "SELECT order_id, recipient_phone, id_number FROM order_customer")).all():
        session.exec(text("UPDATE order_customer SET recipient_phone_fingerprint = :p, id_fingerprint = :i "  # type: ignore[call-overload]
                          "WHERE order_id = :o"), params={"p": ring.fingerprint(ring.unseal(phone)),
                                                         "i": ring.fingerprint(ring.unseal(id_number)), "o": oid})
    session.exec(text("UPDATE feereturn SET msisdn_fingerprint = (SELECT c.msisdn_fingerprint FROM complaint c "  # type: ignore[call-overload]
                      "WHERE c.id = feereturn.complaint_id)"))
    for old, new in moved.items():
        session.exec(text("UPDATE inboundsms SET msisdn_fingerprint = :new WHERE msisdn_fingerprint = :old"),  # type: ignore[call-overload]
                     params={"new": new, "old": old})
    session.commit()
    return changed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("new").add_argument("id", nargs="?", default="k" + os.urandom(3).hex())
    sub.add_parser("usage")
    sub.add_parser("reseal")
    args = parser.parse_args()
    if args.command == "new":
        print(new_key(args.id))
        return
    with Session(get_engine()) as session:
        if args.command == "usage":
            for column, counts in sorted(usage(session).items()):
                print(f"{column}: " + ", ".join(f"{k} {n}" for k, n in sorted(counts.items())))
        else:
            print(f"{reseal(session)} rows rewritten with key {crypto.key_ring().active}")


if __name__ == "__main__":
    main()
