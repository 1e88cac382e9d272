"""Users, password hashes and API tokens, kept in a JSON file in the data directory.

Passwords are hashed with scrypt (hashlib); tokens are random and stored only as SHA-256 hashes.
`python -m camapp.web.auth set-password USER [--role admin|viewer] [--data-dir DIR]` reads the password from stdin.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import re
import secrets
import sys
import threading
import time
from pathlib import Path
from typing import Literal, NotRequired, TypedDict

from camapp.atomic import write_atomic
from camapp.errors import AuthError, StorageError

Role = Literal["admin", "viewer"]
ROLES: tuple[Role, ...] = ("admin", "viewer")
USERS_FILE = "users.json"
USERNAME_RE = re.compile(r"^[A-Za-z0-9_.-]{1,32}$")
MIN_PASSWORD = 8
TOUCH_EVERY_S = 60.0  # a token's last use is written at most this often (the stream polls a lot)
_SCRYPT = {"n": 2**14, "r": 8, "p": 1}
TotpField = Literal["totp", "totp_pending"]


class StoredUser(TypedDict):
    """A user as users.json keeps it."""

    hash: str  # scrypt$n$r$p$salt$hash
    role: Role
    totp: NotRequired[str]  # the second factor's secret, once confirmed by a code
    totp_pending: NotRequired[str]  # a secret shown to the user, until its first code
    totp_step: NotRequired[int]  # the last time step whose code was used (no replay)


# A user as the web modules take it: StoredUser's fields (text, and totp_step), with `username` (and `token_id` when
# a token signed it in) where it is a signed-in user. A plain dict rather than a TypedDict because the web modules
# treat it as one (`get(name) or {}`, `{**user, ...}`, totp.code_ok's dict parameter).
UserRecord = dict[str, str | int]


def _record(user: StoredUser, **names: str) -> UserRecord:
    out: UserRecord = {**names, "hash": user["hash"], "role": user["role"]}
    if "totp" in user:
        out["totp"] = user["totp"]
    if "totp_pending" in user:
        out["totp_pending"] = user["totp_pending"]
    if "totp_step" in user:
        out["totp_step"] = user["totp_step"]
    return out


class StoredToken(TypedDict):
    user: str
    name: str
    hash: str  # sha256 of the secret
    created: float
    address: NotRequired[str]  # the four below are absent from tokens made before they were recorded
    via: NotRequired[str]
    last_used: NotRequired[float | None]
    last_from: NotRequired[str | None]


class TokenInfo(TypedDict):
    """A token as the Account page and the API list it: no hash."""

    id: str
    user: str
    name: str
    created: float
    address: str | None
    via: str | None
    last_used: float | None
    last_from: str | None


class UserInfo(TypedDict):
    username: str
    role: Role
    totp: bool


class UsersFile(TypedDict):
    users: dict[str, StoredUser]
    tokens: dict[str, StoredToken]


def hash_password(password: str) -> str:
    """scrypt$n$r$p$salt$hash, all base64 where binary."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, dklen=32, **_SCRYPT)
    b64 = base64.b64encode
    return f"scrypt${_SCRYPT['n']}${_SCRYPT['r']}${_SCRYPT['p']}${b64(salt).decode()}${b64(digest).decode()}"


def check_password(password: str, stored: str) -> bool:
    """Constant-time check of a password against a stored scrypt hash."""
    try:
        kind, n, r, p, salt, digest = stored.split("$")
        if kind != "scrypt":
            return False
        want = base64.b64decode(digest)
        got = hashlib.scrypt(password.encode(), salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p),
                             dklen=len(want))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, want)


def _token_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def validate_credentials(username: str, password: str) -> None:
    """Raise AuthError naming what is wrong with a new username/password."""
    if not USERNAME_RE.match(username):
        raise AuthError("username: use 1-32 letters, digits, '.', '_' or '-'")
    if len(password) < MIN_PASSWORD:
        raise AuthError(f"password: use at least {MIN_PASSWORD} characters")
    if len(password) > 1024:
        raise AuthError("password: at most 1024 characters")


class UserStore:
    """Thread-safe users/tokens file; every change is written atomically (temp file + rename, mode 0600)."""

    def __init__(self, data_dir: Path) -> None:
        self.path = Path(data_dir) / USERS_FILE
        self._lock = threading.Lock()

    def _load(self) -> UsersFile:
        try:
            data: UsersFile = json.loads(self.path.read_text(encoding="utf-8"))  # written by _save()
        except FileNotFoundError:
            return {"users": {}, "tokens": {}}
        except (OSError, ValueError) as err:
            raise StorageError(f"{self.path}: cannot read users file: {err}") from None
        if not isinstance(data, dict):
            raise StorageError(f"{self.path}: cannot read users file: not a JSON object")
        data.setdefault("users", {})
        data.setdefault("tokens", {})
        return data

    def _save(self, data: UsersFile) -> None:
        write_atomic(self.path, json.dumps(data, indent=2, sort_keys=True), 0o600)

    def has_users(self) -> bool:
        with self._lock:
            return bool(self._load()["users"])

    def users(self) -> list[UserInfo]:
        with self._lock:
            users = self._load()["users"]
        return [{"username": name, "role": u["role"], "totp": bool(u.get("totp"))} for name, u in sorted(users.items())]

    def get(self, username: str) -> UserRecord | None:
        user = self._stored(username)
        return _record(user) if user else None

    def _stored(self, username: str) -> StoredUser | None:
        with self._lock:
            return self._load()["users"].get(username)

    def set_password(self, username: str, password: str, role: Role | None = None) -> None:
        """Create or update a user; a new user without a role becomes a viewer."""
        validate_credentials(username, password)
        if role is not None and role not in ROLES:
            raise AuthError(f"role must be one of {', '.join(ROLES)}, got {role!r}")
        with self._lock:
            data = self._load()
            old = data["users"].get(username)  # kept: a second factor outlives a password change
            hashed = hash_password(password)
            data["users"][username] = ({**old, "hash": hashed, "role": role or old.get("role", "viewer")} if old else
                                       {"hash": hashed, "role": role or "viewer"})
            self._save(data)

    def set_totp(self, username: str, field: TotpField, secret: str | None) -> None:
        """Set (or with None remove) a user's TOTP secret: `totp` in use, `totp_pending` until its first code."""
        with self._lock:
            data = self._load()
            user = data["users"].get(username)
            if user is None:
                raise AuthError(f"no user {username!r}")
            user.pop(field, None)
            if secret is not None:
                user[field] = secret
            if field == "totp":
                user.pop("totp_step", None)
            self._save(data)

    def use_totp_step(self, username: str, step: int) -> bool:
        """Record that the code of time step `step` was used; False when it (or a later one) already was, so a
        code seen over someone's shoulder cannot be replayed."""
        with self._lock:
            data = self._load()
            user = data["users"].get(username)
            if user is None or step <= int(user.get("totp_step", -1)):
                return False
            user["totp_step"] = step
            self._save(data)
            return True

    def delete(self, username: str) -> bool:
        """Remove a user and their tokens; the last admin cannot be removed."""
        with self._lock:
            data = self._load()
            users = data["users"]
            if username not in users:
                return False
            admins = [n for n, u in users.items() if u["role"] == "admin"]
            if admins == [username]:
                raise AuthError("cannot delete the last admin account")
            del users[username]
            data["tokens"] = {k: t for k, t in data["tokens"].items() if t["user"] != username}
            self._save(data)
            return True

    def authenticate(self, username: str, password: str) -> UserRecord | None:
        """The user record when the password matches, else None (hashing even for unknown users)."""
        user = self._stored(username)
        stored = user["hash"] if user else hash_password("not-a-user")
        ok = check_password(password, stored)
        return _record(user, username=username) if ok and user else None

    def create_token(self, username: str, name: str, address: str = "?", via: str = "") -> str:
        """Make an API token for a user; the secret is returned once and only its hash is kept, with where it was
        made from (`address`, and `via`: the session or token that asked) so the Account page can show it."""
        if not re.match(r"^[\w .-]{1,64}$", name):
            raise AuthError("token name: 1-64 letters, digits, spaces, '.', '_' or '-'")
        token_id, secret = secrets.token_hex(4), secrets.token_urlsafe(24)
        with self._lock:
            data = self._load()
            if username not in data["users"]:
                raise AuthError(f"no user {username!r}")
            data["tokens"][token_id] = {"user": username, "name": name, "hash": _token_hash(secret),
                                        "created": round(time.time(), 1), "address": address[:64], "via": via[:64],
                                        "last_used": None, "last_from": None}
            self._save(data)
        return f"cam_{token_id}_{secret}"

    def tokens(self, username: str | None = None) -> list[TokenInfo]:
        """Tokens (of `username`, or all) without their hashes: who made them, from where and when last used."""
        with self._lock:
            tokens = self._load()["tokens"]
        return [TokenInfo(id=k, user=t["user"], name=t["name"], created=t["created"], address=t.get("address"),
                          via=t.get("via"), last_used=t.get("last_used"), last_from=t.get("last_from"))
                for k, t in sorted(tokens.items()) if username is None or t["user"] == username]

    def revoke_token(self, token_id: str) -> bool:
        with self._lock:
            data = self._load()
            if data["tokens"].pop(token_id, None) is None:
                return False
            self._save(data)
            return True

    def revoke_user_tokens(self, username: str) -> int:
        """Remove every token of `username`; returns how many there were."""
        with self._lock:
            data = self._load()
            keep = {k: t for k, t in data["tokens"].items() if t["user"] != username}
            gone = len(data["tokens"]) - len(keep)
            if gone:
                data["tokens"] = keep
                self._save(data)
        return gone

    def check_token(self, token: str, address: str = "?") -> UserRecord | None:
        """The owning user record (with `token_id`) for a valid `cam_<id>_<secret>` token, else None; notes its
        last use (written at most every TOUCH_EVERY_S, or whenever the address changes)."""
        parts = token.split("_", 2)
        if len(parts) != 3 or parts[0] != "cam":
            return None
        with self._lock:
            data = self._load()
            entry = data["tokens"].get(parts[1])
            if not entry or not hmac.compare_digest(entry["hash"], _token_hash(parts[2])):
                return None
            user = data["users"].get(entry["user"])
            now = time.time()
            if user and (now - (entry.get("last_used") or 0) > TOUCH_EVERY_S or entry.get("last_from") != address):
                entry["last_used"], entry["last_from"] = round(now, 1), address[:64]
                self._save(data)
        return _record(user, username=entry["user"], token_id=parts[1]) if user else None


def set_admin_password(data_dir: Path, username: str, password: str) -> None:
    """Create or reset an admin account (the SD image's first-boot script calls this)."""
    UserStore(data_dir).set_password(username, password, role="admin")


def main(argv: list[str] | None = None) -> int:
    """CLI: set-password USER reads the password from stdin (one line)."""
    parser = argparse.ArgumentParser(prog="python -m camapp.web.auth")
    sub = parser.add_subparsers(dest="cmd", required=True)
    sp = sub.add_parser("set-password", help="create or update a user; password on stdin")
    sp.add_argument("username")
    sp.add_argument("--role", choices=ROLES, default="admin")
    sp.add_argument("--data-dir", type=Path, default=Path("data"))
    args = parser.parse_args(argv)
    password = sys.stdin.readline().rstrip("\r\n")
    try:
        UserStore(args.data_dir).set_password(args.username, password, role=args.role)
    except AuthError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"{args.role} {args.username} saved in {args.data_dir / USERS_FILE}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
