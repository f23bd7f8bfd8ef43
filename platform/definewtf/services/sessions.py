"""Manual login: passwords (argon2) and sessions (a bearer token like an API key, that
expires). A deactivated user cannot log in, and their sessions stop working at once
(`api_keys.authenticate_bearer` checks the user on every request)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

from definewtf.clock import utcnow
from definewtf.db import unique_violation_as, write_transaction
from definewtf.errors import Conflict, Invalid, NotFound, Unauthenticated
from definewtf.ids import as_uuid
from definewtf.principals import Actor, require_admin
from definewtf.security import Security
from definewtf.services import audit
from definewtf.services.credentials import issue_secret
from definewtf.tables import Session, User
from definewtf.text import fold

SESSION_LIFETIME = timedelta(hours=12)
MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 1024


@dataclass(frozen=True, slots=True)
class IssuedSession:
    token: str
    expires_at: datetime
    user_id: UUID

    def __repr__(self) -> str:
        return f"IssuedSession(token='***', expires_at={self.expires_at!r})"


async def login(*, tenant_id: UUID, email: str, password: str, security: Security) -> IssuedSession:
    refused = Unauthenticated("wrong email or password")
    key = fold(email.strip())
    row = await (
        User.select(User.id, User.password_hash, User.active, User.deleted_at)
        .where((User.tenant == tenant_id) & ((User.user_name_ci == key) | (User.email_ci == key)))
        .first()
    )
    usable = (
        row is not None and row["password_hash"] and row["active"] and row["deleted_at"] is None
    )
    # Nobody by that email: verify against a hash of the same cost, so that a wrong email
    # costs the same time as a wrong password and timing does not tell who has an account.
    secret_hash = row["password_hash"] if usable and row else await security.hasher.dummy_hash()
    ok = await security.hasher.verify(secret_hash, password[:MAX_PASSWORD_LENGTH])
    if not (usable and ok and row):
        raise refused
    user_id = as_uuid(row["id"])
    secret = await issue_secret(security)
    now = utcnow()
    session = Session(
        tenant=tenant_id,
        user=user_id,
        prefix=secret.prefix,
        secret_hash=secret.secret_hash,
        created_at=now,
        expires_at=now + SESSION_LIFETIME,
    )
    actor = Actor(kind="user", tenant_id=tenant_id, label=email, user_id=user_id)
    async with write_transaction():
        with unique_violation_as(Conflict("Session", "prefix")):
            await Session.insert(session)
        await audit.record(
            tenant_id=tenant_id,
            actor=actor,
            action="session.login",
            target_type="user",
            target_id=user_id,
        )
    return IssuedSession(token=secret.plaintext, expires_at=session.expires_at, user_id=user_id)


async def logout(*, tenant_id: UUID, actor: Actor) -> bool:
    """End the session the actor is using (no-op for another kind of credential)."""
    if actor.kind != "session" or actor.credential_id is None:
        return False
    async with write_transaction():
        await Session.update({Session.revoked_at: utcnow()}).where(
            (Session.tenant == tenant_id) & (Session.id == actor.credential_id)
        )
        await audit.record(
            tenant_id=tenant_id,
            actor=actor,
            action="session.logout",
            target_type="user",
            target_id=actor.user_id or "",
        )
    return True


async def set_password(
    *, tenant_id: UUID, user_id: UUID, password: str, actor: Actor, security: Security
) -> None:
    """Set a user's password (their own, or any user's for an admin). Existing sessions of
    that user end: whoever knew the old password is logged out."""
    if actor.user_id != user_id:
        require_admin(actor, tenant_id)
    if not MIN_PASSWORD_LENGTH <= len(password) <= MAX_PASSWORD_LENGTH:
        raise Invalid(
            f"a password has {MIN_PASSWORD_LENGTH} to {MAX_PASSWORD_LENGTH} characters",
            attribute="password",
        )
    password_hash = await security.hasher.hash(password)
    now = utcnow()
    async with write_transaction():
        updated = (
            await User.update({User.password_hash: password_hash, User.updated_at: now})
            .where((User.tenant == tenant_id) & (User.id == user_id) & User.deleted_at.is_null())
            .returning(User.id)
        )
        if not updated:
            raise NotFound("User", user_id)
        await Session.update({Session.revoked_at: now}).where(
            (Session.tenant == tenant_id) & (Session.user == user_id) & Session.revoked_at.is_null()
        )
        await audit.record(
            tenant_id=tenant_id,
            actor=actor,
            action="user.set_password",
            target_type="user",
            target_id=user_id,
        )
