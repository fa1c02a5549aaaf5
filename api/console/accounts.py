"""Console accounts: an operator of the registry (``OperatorRegistered``, as the CLI and
API make them) with a login ``<name>@<domain>`` and an argon2id password hash.

The hash is kept in the key store, wrapped by the master key like every secret, under
``console:<login>`` (both backends have a key store; nothing new to migrate). Sessions
are short JWTs signed by the hub's token key (any node verifies them) carrying a CSRF
token that every form posts back. Wrong passwords are counted per login on this node: after
``console_lockout_failures`` in a row the login is refused for ``console_lockout_minutes``
(the policy: ``hub/auth/lockout.py``).
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from api.runtime import Runtime
from hub.auth.lockout import Lockout
from hub.errors import InvalidRequest
from hub.registry.decisions import Context
from hub.registry.model import Operator, Role

PREFIX = "console:"
LOGIN_OF = "console-login:"  # operator id -> its login, for the registry page's list
_hasher = PasswordHasher()
MIN_PASSWORD = 10


def check_login(runtime: Runtime, login: str, role: str, agency_code: str | None) -> str:
    """``<name>@<domain>``; an agency-admin's name is its agency's code (its account)."""
    name, at, domain = login.strip().lower().rpartition("@")
    if not at or not name or domain != runtime.settings.domain.lower():
        raise InvalidRequest(f"a console login is <name>@{runtime.settings.domain}",
                             code="invalid_login")
    if role == Role.AGENCY_ADMIN.value and agency_code is not None \
            and name != agency_code.lower():
        raise InvalidRequest(f"an agency-admin's login is {agency_code}@"
                             f"{runtime.settings.domain}", code="invalid_login")
    return f"{name}@{domain}"


async def create(runtime: Runtime, ctx: Context, login: str, password: str, *, role: str,
                 agency_code: str | None, name: str | None = None) -> Operator:
    """Registers the operator (the same event as ``truc admin operator add``) and stores
    the hash of its console password."""
    login = check_login(runtime, login, role, agency_code)
    if len(password) < MIN_PASSWORD:
        raise InvalidRequest(f"a console password has at least {MIN_PASSWORD} characters",
                             code="weak_password")
    if await runtime.backend.keys.get(PREFIX + login) is not None:
        raise InvalidRequest(f"the console login {login} exists", code="login_taken")
    operator, _ = await runtime.registry.add_operator(ctx, name or login, role, agency_code)
    record = json.dumps({"operator_id": operator.operator_id, "hash": _hasher.hash(password)})
    key_id = PREFIX + login
    await runtime.backend.keys.put(key_id, runtime.wrapper.wrap(record.encode(),
                                                                key_id.encode()))
    back_id = LOGIN_OF + operator.operator_id
    await runtime.backend.keys.put(back_id, runtime.wrapper.wrap(login.encode(),
                                                                 back_id.encode()))
    return operator


async def listed(runtime: Runtime) -> list[tuple[str, Operator]]:
    """Every console account as (login, operator), by login. The key store has no
    listing: each operator's login is looked up by its id (accounts made before that
    record existed: by its name, which is its login unless ``--name`` was given, or an
    agency-admin's ``<code>@<domain>``)."""
    found = []
    for operator in runtime.view.registry.operators.values():
        login = await _login_of(runtime, operator)
        if login is not None:
            found.append((login, operator))
    return sorted(found, key=lambda pair: pair[0])


async def _login_of(runtime: Runtime, operator: Operator) -> str | None:
    back_id = LOGIN_OF + operator.operator_id
    blob = await runtime.backend.keys.get(back_id)
    if blob is not None:
        return runtime.wrapper.unwrap(blob, back_id.encode()).decode()
    guesses = [operator.name.strip().lower()]
    if operator.agency_code:
        guesses.append(f"{operator.agency_code}@{runtime.settings.domain}".lower())
    for login in (g for g in guesses if "@" in g):
        blob = await runtime.backend.keys.get(PREFIX + login)
        record = json.loads(runtime.wrapper.unwrap(blob, (PREFIX + login).encode())
                            ) if blob is not None else {}
        if record.get("operator_id") == operator.operator_id:
            return login
    return None


class LockedOut(Exception):
    pass


async def authenticate(runtime: Runtime, lockout: Lockout, login: str, password: str
                       ) -> Operator | None:
    """The operator, or None for a wrong login or password; ``LockedOut`` when locked."""
    login = login.strip().lower()
    if lockout.locked(login):
        raise LockedOut(login)
    blob = await runtime.backend.keys.get(PREFIX + login)
    operator = None
    if blob is not None:
        record = json.loads(runtime.wrapper.unwrap(blob, (PREFIX + login).encode()))
        try:
            _hasher.verify(record["hash"], password)
            operator = runtime.view.registry.operators.get(record["operator_id"])
        except (VerificationError, InvalidHashError):
            operator = None
    else:
        _hasher.hash(password)  # as slow as a known login: timing tells no login apart
    if operator is None:
        lockout.failed(login)
        return None
    lockout.passed(login)
    return operator


def new_session(runtime: Runtime, operator: Operator, login: str) -> str:
    hours = runtime.settings.console_session_hours
    return runtime.tokens.sign({"typ": "console", "sub": operator.operator_id, "login": login,
                                "csrf": secrets.token_urlsafe(24),
                                "exp": int(time.time() + hours * 3600)})


@dataclass(frozen=True)
class Session:
    operator: Operator
    login: str
    csrf: str


def session_of(runtime: Runtime, token: str | None) -> Session | None:
    claims = runtime.tokens.verify(token) if token else None
    if not claims or claims.get("typ") != "console" or claims.get("exp", 0) < time.time():
        return None
    operator = runtime.view.registry.operators.get(str(claims.get("sub")))
    if operator is None:
        return None
    return Session(operator, str(claims["login"]), str(claims["csrf"]))
