"""A local SMTP catcher (aiosmtpd) for the demo and the tests: it accepts every mail on a loopback
port, keeps it in memory (and, if given a folder, as a ``.eml`` file there), and serves a small
page listing what arrived, so the demo's sign-in mails can be read without a real mailbox."""

from fakes.mailcatcher.catcher import CaughtMail, MailCatcher, create_app, start_mail_catcher

__all__ = ["CaughtMail", "MailCatcher", "create_app", "start_mail_catcher"]
