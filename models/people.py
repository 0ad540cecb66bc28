"""People, their roles, their channels and the posts they hold."""

from __future__ import annotations

import enum
import re
from datetime import date, datetime
from typing import ClassVar

import phonenumbers
from email_validator import EmailNotValidError, validate_email
from sqlalchemy import BigInteger, Column, Index
from sqlmodel import Field, Session, SQLModel, col, select

from riskprompt.config.i18n import N_, normalise_locale
from riskprompt.models.audit import record
from riskprompt.models.clock import Clock
from riskprompt.models.errors import InvalidInput, PermissionDenied
from riskprompt.models.types import UTCDateTime, str_enum


class Role(enum.StrEnum):
    """What a person may do: staff receive; officers (纪检监察) issue and review."""

    STAFF = "staff"
    OFFICER = "officer"
    ADMIN = "admin"

    @property
    def label(self) -> str:
        """The msgid of the role's name."""
        return _ROLE_LABELS[self]

    @classmethod
    def parse(cls, value: str) -> Role:
        """Read staff/officer/admin or 工作人员/纪检监察/管理员.

        Raises:
            InvalidInput: for anything else.
        """
        role = _ROLE_WORDS.get(value.strip().lower())
        if role is None:
            raise InvalidInput(
                N_("unknown role %(value)r: use staff/officer/admin or 工作人员/纪检监察/管理员"),
                value=value,
            )
        return role


_ROLE_LABELS: dict[Role, str] = {
    Role.STAFF: N_("staff"),
    Role.OFFICER: N_("officer"),
    Role.ADMIN: N_("admin"),
}
_ROLE_WORDS = {
    "staff": Role.STAFF,
    "工作人员": Role.STAFF,
    "officer": Role.OFFICER,
    "纪检监察": Role.OFFICER,
    "纪检监察干部": Role.OFFICER,
    "admin": Role.ADMIN,
    "管理员": Role.ADMIN,
}


class Channel(enum.StrEnum):
    """A way to reach a person."""

    WECOM = "wecom"  # 企业微信 (and its government edition 政务微信)
    DINGTALK = "dingtalk"  # 钉钉 (and 浙政钉)
    TELEGRAM = "telegram"
    SMS = "sms"
    EMAIL = "email"

    @property
    def label(self) -> str:
        """The msgid of the channel's name (企业微信, 钉钉, 短信, 电子邮件, Telegram)."""
        return CHANNEL_LABELS[self]

    @property
    def is_chat(self) -> bool:
        """A chat app: messages carry buttons (acknowledge, report), not signed links."""
        return self in CHAT_CHANNELS

    @classmethod
    def parse_list(cls, value: str) -> list[Channel]:
        """Read an ordered preference such as ``telegram,sms,email`` (also 、，; and spaces).

        Raises:
            InvalidInput: an unknown channel, or one named twice.
        """
        text = value
        for sep in ("，", "、", ";", "；", " ", "\n"):
            text = text.replace(sep, ",")
        channels: list[Channel] = []
        for word in (part.strip().lower() for part in text.split(",")):
            if not word:
                continue
            channel = _CHANNEL_WORDS.get(word)
            if channel is None:
                raise InvalidInput(
                    N_("unknown channel %(value)r: use wecom, dingtalk, telegram, sms or email"),
                    value=word,
                )
            if channel in channels:
                raise InvalidInput(N_("channel %(value)r named twice"), value=word)
            channels.append(channel)
        return channels


#: The chat apps: a message there carries buttons (Telegram's inline keyboard, a WeCom
#: template card, a DingTalk action card) that answer through the web app or the bot.
CHAT_CHANNELS = frozenset({Channel.WECOM, Channel.DINGTALK, Channel.TELEGRAM})

#: The name of each channel as people read it (one map, used by every front end).
CHANNEL_LABELS: dict[Channel, str] = {
    Channel.WECOM: N_("WeCom"),
    Channel.DINGTALK: N_("DingTalk"),
    Channel.TELEGRAM: N_("Telegram"),
    Channel.SMS: N_("SMS"),
    Channel.EMAIL: N_("Email"),
}
_CHANNEL_WORDS = {
    "wecom": Channel.WECOM,
    "企业微信": Channel.WECOM,
    "政务微信": Channel.WECOM,
    "dingtalk": Channel.DINGTALK,
    "钉钉": Channel.DINGTALK,
    "浙政钉": Channel.DINGTALK,
    "telegram": Channel.TELEGRAM,
    "tg": Channel.TELEGRAM,
    "chat": Channel.TELEGRAM,
    "电报": Channel.TELEGRAM,
    "sms": Channel.SMS,
    "短信": Channel.SMS,
    "email": Channel.EMAIL,
    "e-mail": Channel.EMAIL,
    "mail": Channel.EMAIL,
    "邮件": Channel.EMAIL,
    "邮箱": Channel.EMAIL,
}

#: Chat apps first (WeCom, DingTalk, Telegram), then SMS, then email; a channel the
#: person has no address for is skipped (see :meth:`Person.reachable_channels`).
DEFAULT_CHANNELS = "wecom,dingtalk,telegram,sms,email"

#: A WeCom userid: 1-64 of letters, digits and ``_-@.``, starting with a letter or digit.
_WECOM_USERID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_\-@.]{0,63}")
#: A DingTalk userid: 1-64 of letters, digits and ``_-@.$``.
_DINGTALK_USERID = re.compile(r"[A-Za-z0-9_\-@.$]{1,64}")


def normalise_mobile(value: str, region: str = "CN") -> str:
    """A mobile number in E.164 (``+8613800138000``); national numbers read in ``region``.

    Raises:
        InvalidInput: not a valid phone number.
    """
    try:
        number = phonenumbers.parse(value.strip(), region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidInput(N_("not a phone number: %(value)r"), value=value) from exc
    if not phonenumbers.is_valid_number(number):
        raise InvalidInput(N_("not a valid phone number: %(value)r"), value=value)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalise_email(value: str) -> str:
    """A syntactically valid email address, domain in lower case.

    Raises:
        InvalidInput: not an email address.
    """
    try:
        return validate_email(value.strip(), check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise InvalidInput(N_("not an email address: %(value)r"), value=value) from exc


def normalise_wecom_userid(value: str) -> str:
    """A WeCom (企业微信/政务微信) member's userid, in lower case (WeCom ignores case).

    Raises:
        InvalidInput: not a userid (1-64 letters, digits and ``_-@.``).
    """
    userid = value.strip()
    if not _WECOM_USERID.fullmatch(userid):
        raise InvalidInput(
            N_("not a WeCom account: %(value)r (1-64 letters, digits and _-@.)"), value=value
        )
    return userid.lower()


def normalise_dingtalk_userid(value: str) -> str:
    """A DingTalk (钉钉/浙政钉) member's userid.

    Raises:
        InvalidInput: not a userid (1-64 letters, digits and ``_-@.$``).
    """
    userid = value.strip()
    if not _DINGTALK_USERID.fullmatch(userid):
        raise InvalidInput(
            N_("not a DingTalk account: %(value)r (1-64 letters, digits and _-@.$)"), value=value
        )
    return userid


def parse_locale(value: str) -> str:
    """zh_CN or en from the spellings people use (zh, 中文, en_US...).

    Raises:
        InvalidInput: an unsupported language.
    """
    locale = normalise_locale(value)
    if locale is None:
        raise InvalidInput(N_("unsupported language %(value)r: use zh_CN or en"), value=value)
    return locale


class Person(SQLModel, table=True):
    """Someone who holds posts and receives prompts, or an officer who issues them."""

    __tablename__: ClassVar[str] = "person"  # type: ignore[misc]

    id: int | None = Field(default=None, primary_key=True)
    staff_id: str = Field(max_length=32, unique=True)
    name: str = Field(max_length=100)
    unit_id: int = Field(foreign_key="unit.id", index=True)
    role: Role = Field(default=Role.STAFF, sa_type=str_enum(Role))
    supervisor_id: int | None = Field(default=None, foreign_key="person.id", index=True)
    locale: str = Field(default="zh_CN", max_length=8)
    timezone: str = Field(default="Asia/Shanghai", max_length=64)
    mobile: str | None = Field(default=None, max_length=20, index=True)  # SMS replies
    email: str | None = Field(default=None, max_length=254)
    telegram_chat_id: int | None = Field(
        default=None, sa_column=Column(BigInteger, unique=True, nullable=True)
    )
    # The member's userid in WeCom (lower case) and in DingTalk: where their app
    # messages go and whom their callbacks (a button, a reply) come from.
    wecom_userid: str | None = Field(default=None, max_length=64, unique=True)
    dingtalk_userid: str | None = Field(default=None, max_length=64, unique=True)
    channels: str = Field(default=DEFAULT_CHANNELS, max_length=64)
    sms_opt_out: bool = Field(default=False)
    chat_paused: bool = Field(default=False)
    active: bool = Field(default=True)

    @property
    def channel_preference(self) -> list[Channel]:
        """The person's channels in order of preference."""
        return Channel.parse_list(self.channels)

    def address_for(self, channel: Channel) -> str | None:
        """Where ``channel`` reaches this person, or None when it cannot."""
        if channel is Channel.TELEGRAM:
            if self.telegram_chat_id is None or self.chat_paused:
                return None
            return str(self.telegram_chat_id)
        if channel is Channel.SMS:
            return None if self.sms_opt_out else self.mobile
        if channel is Channel.WECOM:
            return self.wecom_userid
        if channel is Channel.DINGTALK:
            return self.dingtalk_userid
        return self.email

    def reachable_channels(self) -> list[Channel]:
        """The preferred channels this person can actually receive, in order."""
        return [c for c in self.channel_preference if self.address_for(c)]

    @property
    def is_officer(self) -> bool:
        """Officers and admins may issue prompts and warnings and review corrections."""
        return self.role in (Role.OFFICER, Role.ADMIN)


def person_for_address(session: Session, *, channel: Channel, address: str) -> Person | None:
    """The active person whom ``channel`` reaches at ``address`` (a WeCom or DingTalk userid).

    Inbound callbacks name the member by the address the channel sends to; this is
    the one lookup that turns it back into a person.

    Raises:
        ValueError: ``channel`` has no lookup by address here (Telegram: see
            :mod:`riskprompt.models.conversations`; SMS: by mobile in the listings).
    """
    if channel is Channel.WECOM:
        column, value = col(Person.wecom_userid), address.strip().lower()
    elif channel is Channel.DINGTALK:
        column, value = col(Person.dingtalk_userid), address.strip()
    else:
        raise ValueError(f"no lookup by address for {channel.value}")
    if not value:
        return None
    person = session.exec(select(Person).where(column == value)).first()
    return person if person is not None and person.active else None


def require_officer(actor: Person) -> None:
    """Refuse an officer's action to anyone who is not an officer or admin.

    Raises:
        PermissionDenied: the actor is staff (or inactive).
    """
    if not actor.active or not actor.is_officer:
        raise PermissionDenied(
            N_("%(name)s (%(staff_id)s) is not an officer and may not do this"),
            name=actor.name,
            staff_id=actor.staff_id,
        )


class Assignment(SQLModel, table=True):
    """A person holds a post from ``start_on`` until ``end_on`` (open when None)."""

    __tablename__: ClassVar[str] = "assignment"  # type: ignore[misc]
    __table_args__ = (Index("ix_assignment_person_post", "person_id", "post_id"),)

    id: int | None = Field(default=None, primary_key=True)
    person_id: int = Field(foreign_key="person.id", index=True)
    post_id: int = Field(foreign_key="post.id", index=True)
    start_on: date
    end_on: date | None = Field(default=None)
    created_at: datetime | None = Field(default=None, sa_type=UTCDateTime)

    def active_on(self, day: date) -> bool:
        """Whether the person holds the post on ``day``."""
        return self.start_on <= day and (self.end_on is None or day < self.end_on)


def _set_flag(
    session: Session,
    *,
    person: Person,
    flag: str,
    value: bool,
    actions: tuple[str, str],
    clock: Clock,
    via: str,
) -> bool:
    """Set a person's boolean ``flag``, auditing it as ``actions[0]`` (on) or ``[1]`` (off)."""
    if getattr(person, flag) == value:
        return False
    setattr(person, flag, value)
    session.add(person)
    record(
        session,
        at=clock.now(),
        actor_id=person.id,
        action=actions[0] if value else actions[1],
        subject_type="person",
        subject_id=person.id,
        data={"via": via},
    )
    return True


def set_sms_opt_out(
    session: Session, *, person: Person, opted_out: bool, clock: Clock, via: str
) -> bool:
    """Opt a person out of SMS (STOP/退订) or back in (START); returns whether it changed."""
    return _set_flag(
        session,
        person=person,
        flag="sms_opt_out",
        value=opted_out,
        actions=("person.sms_opt_out", "person.sms_opt_in"),
        clock=clock,
        via=via,
    )


def set_chat_paused(
    session: Session, *, person: Person, paused: bool, clock: Clock, via: str
) -> bool:
    """Stop (/stop) or resume (/resume) chat delivery; returns whether it changed."""
    return _set_flag(
        session,
        person=person,
        flag="chat_paused",
        value=paused,
        actions=("person.chat_paused", "person.chat_resumed"),
        clock=clock,
        via=via,
    )


def set_language(session: Session, *, person: Person, locale: str, clock: Clock, via: str) -> str:
    """Change the language a person reads in (/language).

    Raises:
        InvalidInput: an unsupported language.
    """
    person.locale = parse_locale(locale)
    session.add(person)
    record(
        session,
        at=clock.now(),
        actor_id=person.id,
        action="person.language",
        subject_type="person",
        subject_id=person.id,
        data={"locale": person.locale, "via": via},
    )
    return person.locale
