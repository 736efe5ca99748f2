"""The ``portal`` command: users create, audit verify, exit codes and one-line reasons."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from portal.audit.models import AuditEvent
from portal.auth.models import User


def user_count(db) -> int:
    return db.session.scalar(select(func.count()).select_from(User))


def create(runner, *args):
    return runner.invoke(args=["users", "create", *args])


# --- users create --------------------------------------------------------------------------------------


def test_users_create_makes_a_requester_of_an_organisation(runner, db, world):
    result = create(runner, "--username", "wang.li", "--role", "requester", "--org", "TJPSB",
                    "--password", "a-long-password", "--name", "王丽")
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "created requester wang.li"
    user = db.session.scalar(select(User).where(User.username == "wang.li"))
    assert (user.role, user.organisation_id, user.provider_id, user.display_name) == (
        "requester", world.police.id, None, "王丽")
    assert user.check_password("a-long-password")


def test_users_create_makes_an_engineer_of_a_provider_and_prints_a_generated_password(runner, db, world):
    result = create(runner, "--username", "li.gong", "--role", "engineer", "--org", "PROV-A")
    assert result.exit_code == 0, result.output
    password = result.output.strip().rsplit(" ", 1)[1]
    user = db.session.scalar(select(User).where(User.username == "li.gong"))
    assert user.provider_id == world.prov_a.id
    assert len(password) >= 12 and user.check_password(password)


def test_users_create_is_audited_without_the_password(runner, db, world):
    create(runner, "--username", "audited", "--role", "admin", "--password", "a-long-password")
    user = db.session.scalar(select(User).where(User.username == "audited"))
    event = db.session.scalars(select(AuditEvent).where(AuditEvent.table_name == "user_account",
                                                        AuditEvent.record_id == str(user.id))).one()
    assert event.actor_name.startswith("cli")
    assert event.after["username"] == "audited"
    assert "password_hash" not in event.after
    assert user.password_hash not in str(event.after)


GOOD = "a-long-password"


@pytest.mark.parametrize(("args", "reason"), [
    (["--username", "x1", "--role", "overlord", "--password", GOOD], "--role"),
    (["--username", "x2", "--role", "requester", "--password", GOOD], "needs --org"),
    (["--username", "x3", "--role", "requester", "--org", "NOPE", "--password", GOOD], "NOPE"),
    (["--username", "x4", "--role", "engineer", "--org", "TJPSB", "--password", GOOD], "TJPSB"),
    (["--username", "x5", "--role", "admin", "--org", "TJPSB", "--password", GOOD], "omit --org"),
    (["--username", "clerk", "--role", "clerk", "--org", "PROV-A", "--password", GOOD], "taken"),
    (["--username", "x6", "--role", "admin", "--password", "short"], "8 characters"),
    (["--role", "admin", "--password", GOOD], "--username"),
])
def test_users_create_refuses_bad_arguments_with_exit_2(runner, db, world, args, reason):
    before = user_count(db)
    result = create(runner, *args)
    assert result.exit_code == 2
    assert reason in result.output
    assert user_count(db) == before


# --- audit verify --------------------------------------------------------------------------------------


def test_audit_verify_counts_the_events(runner, db, world):
    result = runner.invoke(args=["audit", "verify"])
    total = db.session.scalar(select(func.count()).select_from(AuditEvent))
    assert result.exit_code == 0
    assert result.output.strip() == f"audit trail intact: {total} events verified"


# --- The real console command --------------------------------------------------------------------------


def portal_command() -> list[str]:
    """The installed ``portal`` console script of this environment."""
    beside_python = Path(sys.executable).with_name("portal")
    found = str(beside_python) if beside_python.exists() else shutil.which("portal")
    return [found] if found else [sys.executable, "-c", "from portal.cli import main; main()"]


def run_portal(database_url: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PORTAL_DATABASE_URL": database_url}
    return subprocess.run([*portal_command(), *args], env=env, capture_output=True, text=True, timeout=120,
                          check=False)


def one_line(stream: str) -> str:
    lines = stream.strip().splitlines()
    assert len(lines) == 1, stream
    return lines[0]


def alter_event_behind_the_orms_back(db, event_id: int) -> None:
    connection = db.session.connection()
    forge = text("UPDATE audit_event SET actor_name = 'mallory' WHERE id = :id")
    if connection.dialect.name == "postgresql":
        connection.execute(text("ALTER TABLE audit_event DISABLE TRIGGER USER"))
        connection.execute(forge, {"id": event_id})
        connection.execute(text("ALTER TABLE audit_event ENABLE TRIGGER USER"))
    else:
        connection.execute(text("DROP TRIGGER audit_event_no_update"))
        connection.execute(forge, {"id": event_id})
    db.session.commit()


def test_the_installed_command_exit_codes_and_one_line_reasons(db, world, database_url):
    db.session.commit()  # nothing of this test's session stands in the way of the other process

    bad_role = run_portal(database_url, "users", "create", "--username", "zhao", "--role", "overlord")
    assert bad_role.returncode == 2
    assert one_line(bad_role.stderr).startswith("error: ")
    assert "--role" in bad_role.stderr

    no_org = run_portal(database_url, "users", "create", "--username", "zhao", "--role", "requester")
    assert no_org.returncode == 2
    assert one_line(no_org.stderr) == "error: role requester needs --org CODE"

    made = run_portal(database_url, "users", "create", "--username", "zhao", "--role", "auditor",
                      "--org", "CCNU", "--password", "a-long-password")
    assert made.returncode == 0, made.stderr
    assert one_line(made.stdout) == "created auditor zhao"
    db.session.expire_all()
    assert db.session.scalar(select(User).where(User.username == "zhao")).organisation_id == world.campus.id

    intact = run_portal(database_url, "audit", "verify")
    assert intact.returncode == 0, intact.stderr
    assert one_line(intact.stdout).startswith("audit trail intact: ")

    victim = db.session.scalar(select(func.min(AuditEvent.id)).where(AuditEvent.table_name == "device"))
    alter_event_behind_the_orms_back(db, victim)
    broken = run_portal(database_url, "audit", "verify")
    assert broken.returncode == 1
    assert one_line(broken.stderr).startswith(f"audit trail broken at event {victim}: ")


def test_the_installed_command_on_an_unmigrated_database_says_so_in_one_line(tmp_path):
    result = run_portal(f"sqlite:///{tmp_path / 'empty.db'}", "audit", "verify")
    assert result.returncode == 1
    assert one_line(result.stderr).startswith("error: database not reachable or not migrated")
