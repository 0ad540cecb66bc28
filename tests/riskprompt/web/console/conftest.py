"""The console under test: an office, its app, and a signed-in client per role.

Fixtures (on top of ``web_settings``, ``engine``, ``clock`` of the parent conftests):

- ``office``: two units, A (财政局, with a sub-unit 国库科) and B (审计局); an officer
  supervising each (``officer_a``, ``officer_b``), an admin, and staff in each
  (``staff`` in A, ``staff_b`` in B).  Committed; see :class:`Office`.
- ``console_app``: the whole web app from ``create_app`` on that database and clock.
- ``console``: a :class:`ConsoleClients` factory: ``console.anonymous()``,
  ``console.as_role("officer_a")``, ``console.signed_in(person)``.
- ``client_for``: parametrise a test over :data:`ROLES` with
  ``@pytest.mark.parametrize("role", ROLES)`` and take ``client_for(role)``.

A signed-in client holds a real console session (opened by
:func:`riskprompt.models.accounts.start_session`, so without hashing a password) and
its CSRF token: ``client.post_form(url, data)`` adds the token; ``client.post`` does
not (to test refusals).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session

from riskprompt.config.settings import Settings
from riskprompt.models.accounts import set_password, start_session
from riskprompt.models.catalog import Unit
from riskprompt.models.clock import FixedClock
from riskprompt.models.people import Person, Role
from riskprompt.models.scope import Supervision
from riskprompt.web import create_app
from riskprompt.web.console.auth import LOGIN_COOKIE, SESSION_COOKIE
from riskprompt.web.console.rendering import CSRF_FIELD
from tests.builders import make_person, make_unit

#: Who a console test can be: the role × route matrix runs over these.
ROLES = ("anonymous", "staff", "officer_a", "officer_b", "admin")
#: The password :func:`give_password` sets (long enough for the policy).
PASSWORD = "correct horse battery staple"
#: The public URL of ``web_settings`` is https: cookies are Secure and ``__Host-`` named.
BASE_URL = "https://testserver"


@dataclass
class Office:
    """The people and units of the console tests (all committed)."""

    unit_a: Unit
    unit_a_sub: Unit
    unit_b: Unit
    officer_a: Person
    officer_b: Person
    admin: Person
    staff: Person
    staff_b: Person

    def person(self, role: str) -> Person:
        """The person who plays ``role`` (one of :data:`ROLES` but anonymous)."""
        return {
            "staff": self.staff,
            "officer_a": self.officer_a,
            "officer_b": self.officer_b,
            "admin": self.admin,
        }[role]


@pytest.fixture
def office(engine: Engine) -> Office:
    """Units A (with a sub-unit) and B, an officer supervising each, an admin, staff."""
    with Session(engine, expire_on_commit=False) as session:
        unit_a = make_unit(session, name="财政局")
        unit_a_sub = make_unit(session, name="国库科", parent=unit_a)
        unit_b = make_unit(session, name="审计局")
        officer_a = make_person(
            session, unit=unit_a, staff_id="JJA01", name="王纪检", role=Role.OFFICER
        )
        officer_b = make_person(
            session, unit=unit_b, staff_id="JJB01", name="李纪检", role=Role.OFFICER
        )
        admin = make_person(session, unit=unit_a, staff_id="AD001", name="赵管理", role=Role.ADMIN)
        staff = make_person(session, unit=unit_a_sub, staff_id="CW001", name="张出纳")
        staff_b = make_person(session, unit=unit_b, staff_id="SJ001", name="陈审计")
        session.add(Supervision(officer_id=officer_a.id or 0, unit_id=unit_a.id or 0))
        session.add(Supervision(officer_id=officer_b.id or 0, unit_id=unit_b.id or 0))
        session.commit()
    return Office(unit_a, unit_a_sub, unit_b, officer_a, officer_b, admin, staff, staff_b)


def give_password(engine: Engine, person: Person, clock: FixedClock) -> str:
    """Set :data:`PASSWORD` for ``person`` (argon2: about 0.15 s) and return it."""
    with Session(engine, expire_on_commit=False) as session:
        set_password(session, person=person, password=PASSWORD, clock=clock)
        session.commit()
    return PASSWORD


@pytest.fixture
def console_app(web_settings: Settings, engine: Engine, clock: FixedClock) -> FastAPI:
    """The web app (console included) on the clean database and the fixed clock."""
    return create_app(settings=web_settings, engine=engine, clock=clock)


class ConsoleClient(TestClient):
    """A test client of the console; signed in when ``person`` is set."""

    person: Person | None = None
    csrf_token: str = ""

    def post_form(self, url: str, data: dict[str, Any] | None = None, **kwargs: Any) -> Any:
        """POST a form with this client's CSRF token in its hidden field."""
        return self.post(url, data={CSRF_FIELD: self.csrf_token, **(data or {})}, **kwargs)

    def login_token(self) -> str:
        """The sign-in form's CSRF token (GET /login first: it sets the cookie)."""
        self.get("/login")
        return self.cookies.get(f"__Host-{LOGIN_COOKIE}") or ""


@dataclass
class ConsoleClients:
    """Makes console clients of one app; closes them at the end of the test."""

    app: FastAPI
    engine: Engine
    clock: FixedClock
    office: Office
    _open: list[ConsoleClient] = field(default_factory=list)

    def anonymous(self) -> ConsoleClient:
        """A client that is not signed in (redirects are not followed)."""
        client = ConsoleClient(self.app, base_url=BASE_URL, follow_redirects=False)
        self._open.append(client)
        return client

    def signed_in(self, person: Person) -> ConsoleClient:
        """A client holding a fresh console session of ``person`` (any role)."""
        with Session(self.engine, expire_on_commit=False) as session:
            opened = start_session(session, person=person, clock=self.clock, client="testclient")
            session.commit()
        client = self.anonymous()
        client.cookies.set(f"__Host-{SESSION_COOKIE}", opened.token)
        client.person = person
        client.csrf_token = opened.session.csrf_token
        return client

    def as_role(self, role: str) -> ConsoleClient:
        """A client of ``role`` (one of :data:`ROLES`)."""
        if role == "anonymous":
            return self.anonymous()
        return self.signed_in(self.office.person(role))

    def close(self) -> None:
        """Close every client made."""
        for client in self._open:
            client.close()


@pytest.fixture
def console(
    console_app: FastAPI, engine: Engine, clock: FixedClock, office: Office
) -> Iterator[ConsoleClients]:
    """Console clients of the app on the office's database."""
    clients = ConsoleClients(console_app, engine, clock, office)
    yield clients
    clients.close()


@pytest.fixture
def client_for(console: ConsoleClients) -> Callable[[str], ConsoleClient]:
    """``client_for(role)``: a client of that role (see :data:`ROLES`)."""
    return console.as_role
