"""Ops add, re-role and disable users with one command; the demo users exist only on the embedded default."""

import os
import subprocess
import sys
from pathlib import Path

from sqlmodel import Session

from db.identity import User

ROOT = Path(__file__).resolve().parents[2]


def _cli(engine, *args: str, **env: str) -> subprocess.CompletedProcess:
    url = engine.url.render_as_string(hide_password=False)
    options = engine.dialect.create_connect_args(engine.url)[1].get("options") or _search_path(engine)
    if options:  # the test session's own PostgreSQL schema
        url += ("&" if "?" in url else "?") + "options=" + options.replace(" ", "%20").replace("=", "%3D")
    return subprocess.run([sys.executable, "-m", "scripts.users", *args], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "SIMBO_DATABASE_URL": url, **env}, timeout=60)


def _search_path(engine) -> str:
    if engine.dialect.name != "postgresql":
        return ""
    with engine.connect() as conn:
        return f"-csearch_path={conn.exec_driver_sql('SHOW search_path').scalar()}"


def test_add_re_role_disable_and_enable_a_user(db):
    assert _cli(db, "add", "li.ops", "--role", "ops", "--password", "long enough 1").returncode == 0
    assert _cli(db, "roles", "li.ops", "--role", "complaint_handler", "--department", "billing").returncode == 0
    assert _cli(db, "disable", "li.ops").returncode == 0
    with Session(db) as s:
        user = s.get(User, "li.ops")
        assert (user.roles, user.department, user.disabled) == ("complaint_handler", "billing", True)
        assert "long enough" not in user.password_hash and user.password_hash.startswith("$argon2id$")
    assert _cli(db, "enable", "li.ops").returncode == 0
    again = _cli(db, "add", "li.ops", "--role", "ops", "--password", "long enough 1")
    assert again.returncode != 0 and "exists" in again.stderr


def test_demo_users_are_refused_outside_the_embedded_default(db):
    r = _cli(db, "demo", SIMBO_DEMO_USERS="false")
    assert r.returncode != 0 and "demo users are off" in r.stderr
    assert _cli(db, "demo").returncode == 0
    with Session(db) as s:
        assert s.get(User, "demo-auditor").roles == "auditor"
