"""E-mail over SMTP: the settings and one connection reused for a batch of messages."""

from __future__ import annotations

import os
import smtplib
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formataddr, formatdate, make_msgid, parseaddr

from flask import Flask

DEFAULTS = {
    "PORTAL_SMTP_HOST": "localhost",
    "PORTAL_SMTP_PORT": "25",
    "PORTAL_MAIL_FROM": "portal@localhost",
    "PORTAL_SMTP_USERNAME": "",
    "PORTAL_SMTP_PASSWORD": "",
    "PORTAL_SMTP_STARTTLS": "0",
    "PORTAL_SMTP_TIMEOUT": "30",
}


def setting(app: Flask, name: str) -> str:
    """A mail setting from the app's config, else the environment, else its default."""
    value = app.config.get(name)
    if value in (None, ""):
        value = os.environ.get(name) or DEFAULTS[name]
    return str(value)


@dataclass(frozen=True)
class MailSettings:
    """Where and as whom the portal sends e-mail."""

    host: str
    port: int
    sender: str
    username: str = ""
    password: str = ""
    starttls: bool = False
    timeout: float = 30.0

    @classmethod
    def from_app(cls, app: Flask) -> MailSettings:
        """PORTAL_SMTP_HOST/PORT, PORTAL_MAIL_FROM, and optional STARTTLS and login."""
        return cls(
            host=setting(app, "PORTAL_SMTP_HOST"),
            port=int(setting(app, "PORTAL_SMTP_PORT")),
            sender=setting(app, "PORTAL_MAIL_FROM"),
            username=setting(app, "PORTAL_SMTP_USERNAME"),
            password=setting(app, "PORTAL_SMTP_PASSWORD"),
            starttls=setting(app, "PORTAL_SMTP_STARTTLS").lower() in ("1", "true", "yes"),
            timeout=float(setting(app, "PORTAL_SMTP_TIMEOUT")),
        )

    @property
    def domain(self) -> str:
        """The sender's domain, for Message-IDs."""
        return parseaddr(self.sender)[1].rpartition("@")[2] or "localhost"


def build_message(settings: MailSettings, to_name: str, to_address: str, subject: str, body: str,
                  headers: dict | None = None) -> EmailMessage:
    """A plain-text UTF-8 message from the portal's sender."""
    message = EmailMessage()
    message["From"] = settings.sender
    message["To"] = formataddr((to_name, to_address))
    message["Subject"] = subject
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain=settings.domain)
    for name, value in (headers or {}).items():
        message[name] = value
    message.set_content(body)
    return message


class Outbox:
    """One SMTP connection for a batch of messages, opened at the first message; a failed connection
    is not retried within the batch (each message then fails with its error and is tried next time)."""

    def __init__(self, settings: MailSettings):
        self.settings = settings
        self.connection: smtplib.SMTP | None = None
        self.unreachable: Exception | None = None

    def __enter__(self) -> Outbox:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def connect(self) -> smtplib.SMTP:
        """The open connection, connecting (and logging in) when there is none."""
        if self.unreachable is not None:
            raise self.unreachable
        if self.connection is None:
            try:
                self.connection = self.open()
            except (OSError, smtplib.SMTPException) as error:
                self.unreachable = error
                raise
        return self.connection

    def open(self) -> smtplib.SMTP:
        """A new SMTP connection with the configured STARTTLS and login."""
        settings = self.settings
        connection = smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout)
        if settings.starttls:
            connection.starttls()
        if settings.username:
            connection.login(settings.username, settings.password)
        return connection

    def send(self, message: EmailMessage) -> None:
        """Send one message; on an error the connection is dropped so the next message reconnects."""
        connection = self.connect()
        try:
            connection.send_message(message)
        except (OSError, smtplib.SMTPException):
            self.close()
            raise

    def close(self) -> None:
        """Say goodbye to the server, if connected."""
        if self.connection is not None:
            try:
                self.connection.quit()
            except (OSError, smtplib.SMTPException):
                self.connection.close()
            self.connection = None
