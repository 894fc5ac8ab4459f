"""``stonith user ...`` and ``stonith token ...``: manage the users and tokens files of ``stonith serve``.

- ``stonith user add NAME --role R [--password-stdin | --no-password]``
- ``stonith user del NAME`` (revokes the user's tokens too)
- ``stonith user list [--json]``: names and roles, never hashes
- ``stonith user passwd NAME [--password-stdin | --no-password]``
- ``stonith user role NAME R``
- ``stonith token create --user NAME [--role R] [--expires 30d|12h|never]``: prints the token once
- ``stonith token list [--json]``: id, user, role, expiry, state, never the token
- ``stonith token revoke ID``

Every command takes ``--users FILE`` / ``--tokens FILE`` (defaults: ``$STONITH_USERS`` /
``$STONITH_TOKENS``, else /etc/stonith/users.json and tokens.json).  Passwords are read from the
terminal (twice) or, with ``--password-stdin``, from the first line of stdin — never from argv,
which every user of the machine can read in /proc.  A running service picks the changes up at its
next login check.

Exit codes: 0 ok, 1 usage or bad input (cluster-glue's S_BADCONFIG), 3 unknown user or token id
(S_INVAL); every error is one ``ERROR: ...`` line on stderr.
"""

from __future__ import annotations

import argparse
import getpass
import hmac
import json
import os
import sys
import time
from typing import Any, NoReturn

from stonith.server import auth

USAGE = 1


class _Usage(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # No prefix matching: `--password SECRET` must not pass as `--password-stdin` plus a word.
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:  # argparse would exit 2; our usage code is 1
        prefix = "unrecognized arguments: "
        if message.startswith(prefix):
            # A stray word may be a password typed into argv: name the options, not the values.
            words = message[len(prefix) :].split()
            options = [w for w in words if w.startswith("-")]
            message = "unrecognized arguments" + (": " + " ".join(options) if options else "")
            if len(options) < len(words):
                message += " (other words not shown; passwords are read from the terminal or stdin only)"
        raise _Usage(f"{self.prog}: {message}")


def _files(parser: argparse.ArgumentParser, tokens: bool = False, users: bool = True) -> None:
    if users:
        parser.add_argument(
            "--users",
            default=os.environ.get("STONITH_USERS", auth.DEFAULT_USERS_FILE),
            metavar="FILE",
            help="users file (default $STONITH_USERS or %(default)s)",
        )
    if tokens:
        parser.add_argument(
            "--tokens",
            default=os.environ.get("STONITH_TOKENS", auth.DEFAULT_TOKENS_FILE),
            metavar="FILE",
            help="tokens file (default $STONITH_TOKENS or %(default)s)",
        )


def _password_source(parser: argparse.ArgumentParser) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "--password-stdin", action="store_true", help="read the password from the first line of stdin"
    )
    group.add_argument(
        "--no-password", action="store_true", help="no password login (token or client certificate only)"
    )


def parser() -> argparse.ArgumentParser:
    top = _Parser(prog="stonith", description="users and tokens of stonith serve")
    sub = top.add_subparsers(dest="noun", required=True, metavar="{user,token}")

    user = sub.add_parser("user", help="manage users").add_subparsers(dest="verb", required=True)
    add = user.add_parser("add", help="add a user")
    add.add_argument("name")
    add.add_argument("--role", required=True, choices=auth.ROLES)
    _password_source(add)
    _files(add)
    delete = user.add_parser("del", help="delete a user and revoke their tokens")
    delete.add_argument("name")
    _files(delete, tokens=True)
    listing = user.add_parser("list", help="list users and roles")
    listing.add_argument("--json", action="store_true")
    _files(listing)
    passwd = user.add_parser("passwd", help="set a user's password")
    passwd.add_argument("name")
    _password_source(passwd)
    _files(passwd)
    role = user.add_parser("role", help="set a user's role")
    role.add_argument("name")
    role.add_argument("role", choices=auth.ROLES)
    _files(role)

    token = sub.add_parser("token", help="manage bearer tokens").add_subparsers(dest="verb", required=True)
    create = token.add_parser("create", help="create a token and print it once")
    create.add_argument("--user", required=True, dest="name")
    create.add_argument("--role", choices=auth.ROLES, help="at most the user's role (default: the user's)")
    create.add_argument("--expires", default="30d", help="30d, 12h, 90m, 2w or never (default %(default)s)")
    _files(create, tokens=True)
    tlist = token.add_parser("list", help="list tokens (never the tokens themselves)")
    tlist.add_argument("--json", action="store_true")
    _files(tlist, tokens=True, users=False)
    revoke = token.add_parser("revoke", help="revoke a token by id")
    revoke.add_argument("id")
    _files(revoke, tokens=True, users=False)
    return top


def main(argv: list[str] | None = None) -> int:
    """``argv`` starts with ``user`` or ``token`` (as ``stonith`` passes it)."""
    try:
        args = parser().parse_args(sys.argv[1:] if argv is None else argv)
    except _Usage as exc:
        return _error(str(exc), USAGE)
    except SystemExit as exc:  # --help
        return int(exc.code or 0)
    try:
        return _run(args)
    except _Usage as exc:
        return _error(str(exc), USAGE)
    except auth.StoreError as exc:
        return _error(str(exc), exc.exit_code)
    except OSError as exc:  # writing: disk full, read-only /etc, no permission
        return _error(f"{exc.filename or ''}: {exc.strerror}".lstrip(": "), USAGE)


def _error(message: str, code: int) -> int:
    sys.stderr.write(f"ERROR: {message}\n")
    return code


def _run(args: argparse.Namespace) -> int:
    if args.noun == "user":
        if args.verb == "add":
            auth.check_user_name(args.name)  # before asking for a password that would be thrown away
            auth.add_user(args.users, args.name, args.role, _new_password(args))
            sys.stderr.write(f"user {args.name} added with role {args.role}\n")
        elif args.verb == "del":
            revoked = auth.delete_user(args.users, args.tokens, args.name)
            sys.stderr.write(f"user {args.name} deleted; {revoked} token(s) revoked\n")
        elif args.verb == "list":
            _list_users(auth.load_users(args.users), args.json)
        elif args.verb == "passwd":
            if args.name not in auth.load_users(args.users):  # before asking for the password
                raise auth.UnknownName(f"no user {args.name!a} in {args.users}")
            auth.set_password(args.users, args.name, _new_password(args))
            sys.stderr.write(f"password of {args.name} {'removed' if args.no_password else 'changed'}\n")
        else:
            auth.set_role(args.users, args.name, args.role)
            sys.stderr.write(f"user {args.name} now has role {args.role}\n")
        return 0
    if args.verb == "create":
        lifetime = auth.parse_duration(args.expires)
        token, record = auth.create_token(args.users, args.tokens, args.name, args.role, lifetime)
        # stdout carries the token alone, so that TOKEN=$(stonith token create ...) works.
        sys.stdout.write(token + "\n")
        expiry = "never expires" if record.expires is None else f"expires {auth.iso(record.expires)}"
        sys.stderr.write(
            f"token {record.id} for {record.user} (role {record.role}) {expiry}; "
            "it is shown only now: store it in a file only its user can read\n"
        )
    elif args.verb == "list":
        _list_tokens(auth.load_tokens(args.tokens), args.json)
    else:
        record = auth.revoke_token(args.tokens, args.id)
        sys.stderr.write(f"token {record.id} of {record.user} revoked\n")
    return 0


def _new_password(args: argparse.Namespace) -> str | None:
    if args.no_password:
        return None
    if args.password_stdin:
        line = sys.stdin.readline()
        password = line.rstrip("\r\n") if line.endswith("\n") else line
        if not password:
            raise _Usage("no password on stdin")
        auth.check_new_password(password)
        return password
    if not _has_terminal():
        raise _Usage("no terminal to read the password from; use --password-stdin")
    try:
        password = getpass.getpass("Password: ")
        again = getpass.getpass("Password (again): ")
    except EOFError:
        raise _Usage("no password given") from None
    if not hmac.compare_digest(password.encode(), again.encode()):
        raise _Usage("the two passwords differ")
    auth.check_new_password(password)
    return password


def _has_terminal() -> bool:
    # getpass reads /dev/tty; without one it would fall back to echoing stdin, with a warning only.
    try:
        os.close(os.open("/dev/tty", os.O_RDWR | os.O_NOCTTY))
    except OSError:
        return False
    return True


def _table(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    return "".join(
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() + "\n"
        for row in [header, *rows]
    )


def _list_users(users: dict[str, auth.User], as_json: bool) -> None:
    ordered = sorted(users.values(), key=lambda u: u.name)
    if as_json:
        data: list[dict[str, Any]] = [
            {
                "name": u.name,
                "role": u.role,
                "password": u.password is not None,
                "created": auth.iso(u.created),
            }
            for u in ordered
        ]
        sys.stdout.write(json.dumps(data, indent=2) + "\n")
        return
    rows = [[u.name, u.role, "yes" if u.password else "no", auth.iso(u.created)] for u in ordered]
    sys.stdout.write(_table(rows, ["NAME", "ROLE", "PASSWORD", "CREATED"]))


def _list_tokens(tokens: dict[str, auth.Token], as_json: bool) -> None:
    now = time.time()
    ordered = sorted(tokens.values(), key=lambda t: (t.created, t.id))

    def when(ts: float | None) -> str | None:
        return None if ts is None else auth.iso(ts)

    if as_json:
        data = [
            {
                "id": t.id,
                "user": t.user,
                "role": t.role,
                "created": when(t.created),
                "expires": when(t.expires),
                "revoked": when(t.revoked),
                "state": t.state(now),
            }
            for t in ordered
        ]
        sys.stdout.write(json.dumps(data, indent=2) + "\n")
        return
    rows = [
        [t.id, t.user, t.role, auth.iso(t.created), when(t.expires) or "never", t.state(now)] for t in ordered
    ]
    sys.stdout.write(_table(rows, ["ID", "USER", "ROLE", "CREATED", "EXPIRES", "STATE"]))


if __name__ == "__main__":
    sys.exit(main())
