"""What the cabinet refuses, as exceptions: each carries its HTTP status, machine code and
message (an English msgid, translated into the caller's language when answered, ``app.py``)."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import BaseModel, Field

from genbot.i18n import N_


class CabinetError(Exception):
    """A refusal the caller is told about: ``{"error": {"code", "message"}}`` with ``status``."""

    status: ClassVar[int] = 400
    code: ClassVar[str] = "invalid_request"
    msgid: ClassVar[str] = N_("The request is not valid.")

    def __init__(self, msgid: str | None = None, *, code: str | None = None, **params: Any) -> None:
        super().__init__(msgid or self.msgid)
        self.message_id = msgid or type(self).msgid
        self.error_code = code or type(self).code
        self.params = params


class UnauthorizedError(CabinetError):
    """No initData, a forged one, another bot's, or a stale one."""

    status = 401
    code = "unauthorized"
    msgid = N_("Please open the cabinet from the bot again: the sign-in has expired or is not valid.")


class ForbiddenError(CabinetError):
    status = 403
    code = "forbidden"
    msgid = N_("This section is for the bot's operators.")


class BannedError(ForbiddenError):
    code = "banned"
    msgid = N_("Your access to the bot has been suspended.")


class NotFoundError(CabinetError):
    status = 404
    code = "not_found"
    msgid = N_("Nothing was found here.")


class NotRegisteredError(NotFoundError):
    code = "not_registered"
    msgid = N_("Send /start to the bot first: it sets up your account.")


class InvalidRequestError(CabinetError):
    """A bad body, query or cursor."""


class ConflictError(CabinetError):
    """The request is well-formed but can't be done in the account's present state."""

    status = 409
    code = "conflict"
    msgid = N_("This can't be done right now.")


class RateLimitedError(CabinetError):
    status = 429
    code = "rate_limited"
    msgid = N_("Too many requests. Please wait a few seconds and try again.")


class UnavailableError(CabinetError):
    """A service we depend on (DynamoDB, Telegram, YooKassa) didn't answer: try again later."""

    status = 503
    code = "unavailable"
    msgid = N_("The service isn't answering right now. Please try again in a minute.")


class ErrorDetail(BaseModel):
    code: str = Field(description="machine code: unauthorized, not_registered, invalid_request, ...")
    message: str = Field(description="for the user, in their language")


class ErrorBody(BaseModel):
    """Every refusal's body (docs/cabinet-api.md, "Errors")."""

    error: ErrorDetail
