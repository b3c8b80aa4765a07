"""Manage who signs in (embedded issuer): `python -m scripts.users add NAME --role ops`, `disable NAME`,
`enable NAME`, `roles NAME --role auditor [--department billing]`, `key MERCHANT` (a merchant API key), and
`demo` (one user per role, for `make run` and the tests; refused when SIMBO_DEMO_USERS is off).
"""

import argparse
import getpass
import sys

import httpx
from sqlmodel import Session

from core.access import Role
from core.db import get_engine
from core.settings import get_settings
from services import identity

# One user per role, for the embedded default only. The passwords are printed by `make run`.
DEMO_PASSWORD = "demo-pass-2026"
DEMO_USERS: tuple[tuple[str, tuple[Role, ...], dict[str, str]], ...] = (
    ("demo-admin", (Role.ADMIN,), {}),
    ("demo-ops", (Role.OPS,), {}),
    ("demo-auditor", (Role.AUDITOR,), {}),
    ("demo-finance", (Role.FINANCE,), {}),
    ("demo-desk", (Role.COMPLAINT_HANDLER,), {"department": "complaint_desk"}),
    ("demo-billing", (Role.COMPLAINT_HANDLER,), {"department": "billing"}),
    ("demo-lead", (Role.TEAM_LEAD,), {"department": "complaint_desk"}),
    ("demo-manager", (Role.MANAGER,), {"department": "complaint_desk"}),
    ("demo-viewer", (Role.READ_ONLY,), {}),
    ("demo-agent", (Role.AGENT,), {"agent_id": "A002"}),
    ("demo-clerk", (Role.SERVICE_CLERK,), {}),
    ("demo-app", (Role.SELF_SERVICE,), {}),
)


def ensure_demo_users(session: Session) -> list[str]:
    """Create the demo users that are missing; an agent's user waits until the demo has created its agent."""
    from db.agents import Agent
    from db.identity import User

    made = []
    for name, roles, attrs in DEMO_USERS:
        if session.get(User, name) is not None:
            continue
        if "agent_id" in attrs and session.get(Agent, attrs["agent_id"]) is None:
            continue
        identity.add_user(session, name, DEMO_PASSWORD, list(roles), **attrs)
        made.append(name)
    return made


def staff_headers(api_url: str, name: str = "demo-admin", password: str = DEMO_PASSWORD) -> dict[str, str]:
    """Sign in through the API's password flow: the header scripts, tests and benchmarks send."""
    r = httpx.post(f"{api_url}/auth/token", data={"username": name, "password": password}, timeout=30)
    r.raise_for_status()
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def merchant_key_headers(api_url: str, merchant_id: str, admin: str = "demo-admin") -> dict[str, str]:
    """A new API key for the merchant, issued through the API by the demo admin: how a merchant calls."""
    r = httpx.post(f"{api_url}/merchants/{merchant_id}/api-keys", headers=staff_headers(api_url, admin), timeout=30)
    r.raise_for_status()
    return {"X-Api-Key": r.json()["key"]}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    add = sub.add_parser("add", help="a new user")
    add.add_argument("name")
    add.add_argument("--role", action="append", required=True, choices=[r.value for r in Role])
    add.add_argument("--department")
    add.add_argument("--agent", dest="agent_id")
    add.add_argument("--password", help="default: asked for, not echoed")
    for verb in ("disable", "enable"):
        sub.add_parser(verb).add_argument("name")
    roles = sub.add_parser("roles", help="replace a user's roles")
    roles.add_argument("name")
    roles.add_argument("--role", action="append", required=True, choices=[r.value for r in Role])
    roles.add_argument("--department")
    key = sub.add_parser("key", help="a new API key for a merchant (printed once)")
    key.add_argument("merchant_id")
    sub.add_parser("demo", help="one user per role (embedded default only)")
    args = parser.parse_args(argv)

    with Session(get_engine()) as session:
        if args.command == "add":
            password = args.password or getpass.getpass(f"password for {args.name}: ")
            user = identity.add_user(session, args.name, password, [Role(r) for r in args.role], args.department,
                                     args.agent_id)
            print(f"added {user.id} ({user.roles})")
        elif args.command in ("disable", "enable"):
            user = identity.set_disabled(session, args.name, args.command == "disable")
            print(f"{user.id}: {'disabled' if user.disabled else 'enabled'}")
        elif args.command == "roles":
            user = identity.set_roles(session, args.name, [Role(r) for r in args.role], args.department)
            print(f"{user.id}: {user.roles}")
        elif args.command == "key":
            row, secret = identity.create_api_key(session, args.merchant_id, created_by="cli")
            print(f"{row.id}: {secret}")
        elif args.command == "demo":
            if not get_settings().demo_users:
                sys.exit("demo users are off (SIMBO_DEMO_USERS=false)")
            made = ensure_demo_users(session)
            print("demo users: " + (", ".join(made) if made else "already there"))


if __name__ == "__main__":
    main()
