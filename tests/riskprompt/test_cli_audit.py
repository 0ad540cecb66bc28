"""``riskprompt audit verify`` and ``audit export``."""

from __future__ import annotations

import csv
import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlmodel import Session
from typer.testing import CliRunner

from riskprompt.cli.app import app
from riskprompt.models.audit import AuditEvent, event_hash, record
from riskprompt.models.clock import FixedClock

DAY = timedelta(days=1)


@pytest.fixture
def ids(session: Session, clock: FixedClock) -> list[int]:
    """Four records, one a day from 2026-12-01 09:00 in Shanghai; their ids."""
    events = [
        record(
            session,
            at=clock.now() + n * DAY,
            actor_id=n + 1,
            action="prompt.acknowledged",
            subject_type="prompt",
            subject_id=100 + n,
            data={"via": "sms", "备注": f"第{n}条"},
        )
        for n in range(4)
    ]
    session.commit()
    return [e.id or 0 for e in events]


def audit(cli: CliRunner, *args: str, locale: str = "en") -> tuple[int, str]:
    result = cli.invoke(app, ["--locale", locale, "audit", *args])
    return result.exit_code, result.output


def test_verify_says_ok_with_the_count(cli: CliRunner, ids: list[int]) -> None:
    code, output = audit(cli, "verify")
    assert code == 0, output
    assert "Audit log intact: 4 records checked." in output


def test_verify_names_an_altered_record(cli: CliRunner, session: Session, ids: list[int]) -> None:
    session.connection().execute(
        text("UPDATE audit_event SET subject_id = 999 WHERE id = :id"), {"id": ids[1]}
    )
    session.commit()
    code, output = audit(cli, "verify", "--batch-size", "1")
    assert code == 1
    assert f"Audit record #{ids[1]} was altered" in output
    assert "1 record before it is intact." in output
    code, output = audit(cli, "verify", locale="zh_CN")
    assert code == 1
    assert f"#{ids[1]}" in output and "篡改" in output


def test_verify_names_a_removed_record(cli: CliRunner, session: Session, ids: list[int]) -> None:
    session.connection().execute(text("DELETE FROM audit_event WHERE id = :id"), {"id": ids[2]})
    session.commit()
    code, output = audit(cli, "verify")
    assert code == 1
    assert f"An audit record was removed between #{ids[1]} and #{ids[3]}." in output


def test_verify_names_a_removed_tail(cli: CliRunner, session: Session, ids: list[int]) -> None:
    session.connection().execute(text("DELETE FROM audit_event WHERE id = :id"), {"id": ids[3]})
    session.commit()
    code, output = audit(cli, "verify")
    assert code == 1
    assert f"after #{ids[2]} were removed; the log went up to #{ids[3]}" in output


def test_verify_names_swapped_records(cli: CliRunner, session: Session, ids: list[int]) -> None:
    # Exchange two records' places by their ids (through a free id, the key is unique).
    swap = [(ids[1], -1), (ids[2], ids[1]), (-1, ids[2])]
    for old, new in swap:
        session.connection().execute(
            text("UPDATE audit_event SET id = :new WHERE id = :old"), {"old": old, "new": new}
        )
    session.commit()
    code, output = audit(cli, "verify")
    assert code == 1
    assert f"Audit record #{ids[1]} is out of order: it follows record #{ids[2]}" in output


def _check_round_trip(records: list[dict], session: Session, expected: list[int]) -> None:
    assert [r["id"] for r in records] == expected
    for exported in records:
        stored = session.get(AuditEvent, exported["id"])
        assert stored is not None
        assert exported["action"] == stored.action
        assert exported["data"] == stored.data
        assert datetime.fromisoformat(exported["at"]) == stored.at
        rebuilt = AuditEvent(**{**exported, "at": datetime.fromisoformat(exported["at"])})
        assert event_hash(exported["prev_hash"], rebuilt) == exported["hash"] == stored.hash


def test_export_json_round_trip(
    cli: CliRunner, session: Session, ids: list[int], tmp_path: Path
) -> None:
    out = tmp_path / "audit.json"
    code, output = audit(cli, "export", "--from", "2026-12-02", "--to", "2026-12-03", str(out))
    assert code == 0, output
    assert "Exported 2 audit records" in output
    records = json.loads(out.read_text(encoding="utf-8"))
    _check_round_trip(records, session, ids[1:3])
    assert records[0]["data"] == {"via": "sms", "备注": "第1条"}


def test_export_csv_round_trip(
    cli: CliRunner, session: Session, ids: list[int], tmp_path: Path
) -> None:
    out = tmp_path / "audit.csv"
    code, output = audit(cli, "export", "--from", "2026-12-01", "--to", "2026-12-31", str(out))
    assert code == 0, output
    with out.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.DictReader(handle))
    records = [
        {
            **row,
            "id": int(row["id"]),
            "actor_id": int(row["actor_id"]),
            "subject_id": int(row["subject_id"]),
            "data": json.loads(row["data"]),
        }
        for row in rows
    ]
    _check_round_trip(records, session, ids)


def test_export_of_an_empty_span_writes_an_empty_list(
    cli: CliRunner, ids: list[int], tmp_path: Path
) -> None:
    out = tmp_path / "none.json"
    code, output = audit(cli, "export", "--from", "2027-01-01", "--to", "2027-01-31", str(out))
    assert code == 0, output
    assert json.loads(out.read_text(encoding="utf-8")) == []


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
@pytest.mark.parametrize(
    ("args", "message", "exit_code"),
    [  # a day that cannot be read is a usage error (2); days in the wrong order, 1
        (["--from", "2026-13-01", "--to", "2026-12-31"], "--from: not a date '2026-13-01'", 2),
        (["--from", "2026-12-01", "--to", "yesterday"], "--to: not a date 'yesterday'", 2),
        (["--from", "2026-12-31", "--to", "2026-12-01"], "--to 2026-12-01 is before --from", 1),
    ],
)
def test_export_refuses_bad_dates(
    cli: CliRunner, tmp_path: Path, args: list[str], message: str, exit_code: int
) -> None:
    out = tmp_path / "audit.json"
    code, output = audit(cli, "export", *args, str(out))
    assert code == exit_code
    assert message in output
    assert not out.exists()


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
def test_export_refuses_other_file_types(cli: CliRunner, tmp_path: Path) -> None:
    code, output = audit(
        cli, "export", "--from", "2026-12-01", "--to", "2026-12-02", str(tmp_path / "a.xlsx")
    )
    assert code == 1
    assert "unsupported file type '.xlsx': use .csv or .json" in output
