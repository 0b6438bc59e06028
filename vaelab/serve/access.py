"""Who may talk to the explorer: the Host header a request names, and the access token it carries.

    hosts, token = access_for("0.0.0.0")        # this machine's names and any address; a fresh token
    app.add_middleware(Access, hosts=hosts, token=token)

The Host check stops DNS rebinding: a page on attacker.example whose name is made to resolve to
this machine sends `Host: attacker.example`, which is refused (400). An IP address in Host is
never a rebinding (that needs a name), so a server bound to every address accepts any address.

The token (Jupyter's scheme) guards a server other machines can reach: a request carries it as
`?token=...`, as `Authorization: Bearer ...`, or in the cookie set the first time it came in the
query string, so the page opened from the printed URL keeps working (its requests are relative
and same-origin, and the cookie is SameSite=Strict: another site's page cannot send it). A
missing or wrong token is a 403. Both refusals are JSON `{"detail": message}`.
"""
from __future__ import annotations

import ipaddress
import re
import secrets
import socket
from collections.abc import Sequence
from http.cookies import CookieError, SimpleCookie
from urllib.parse import parse_qs

from starlette.responses import JSONResponse

from ..errors import InputError, excerpt

LOOPBACK_NAMES = ["localhost", "127.0.0.0/8", "::1"]  # a name, or a network whose addresses are all accepted
ANY_ADDRESS = ["0.0.0.0/0", "::/0"]
TOKEN_CHARACTERS = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
MIN_TOKEN_LENGTH = 8


def is_loopback(host: str) -> bool:
    """Whether an address (or `localhost`) only ever reaches this machine."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def allowed_hosts(bound: str, extra: Sequence[str] = ()) -> list[str]:
    """The Host values a server bound to `bound` answers to: loopback names on loopback; else those,
    the machine's names, the bound address (any address for 0.0.0.0 or ::) and `extra`."""
    if is_loopback(bound):
        return [*LOOPBACK_NAMES, *extra]
    hosts = [*LOOPBACK_NAMES, socket.gethostname(), socket.getfqdn(), *extra]
    wildcard = bound.strip("[]") in ("", "0.0.0.0", "::")
    return hosts + (ANY_ADDRESS if wildcard else [bound.strip("[]")])


def access_for(bound: str, token: str | None = None, extra: Sequence[str] = ()) -> tuple[list[str], str | None]:
    """(allowed Host values, token) of `vaelab serve --host bound [--token T] [--allow-host H ...]`: a
    server other machines can reach always needs a token, a fresh one (printed once) where none is given;
    on loopback only a given one is asked for."""
    for host in extra:
        _check_host(host)
    if token is not None:
        if len(token) < MIN_TOKEN_LENGTH or not set(token) <= TOKEN_CHARACTERS:
            raise InputError(f"the token must have at least {MIN_TOKEN_LENGTH} characters, each a letter, "
                             f"digit or one of - . _ ~", "token")
    elif not is_loopback(bound):
        token = secrets.token_urlsafe(24)
    return allowed_hosts(bound, list(extra)), token


def _check_host(host: str) -> None:
    try:
        ipaddress.ip_network(host.strip("[]"), strict=False)
        return
    except ValueError:
        pass
    if not re.fullmatch(r"(\*\.)?[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?\.?", host):
        raise InputError(f"{excerpt(host)} is not a host name, *.domain, address or network", "allow_host")


def host_name(header: str) -> str:
    """`Host: name:port` -> name, lower case; `[::1]:8000` -> ::1."""
    header = header.strip().lower()
    if header.startswith("["):
        return header[1:header.find("]")] if "]" in header else ""
    name = header.rsplit(":", 1)[0] if header.count(":") == 1 else header
    return name.rstrip(".")


class HostRule:
    """Accepted Host names: exact names, `*.suffix` wildcards and networks (CIDR) of addresses."""

    def __init__(self, hosts: list[str]):
        self.names, self.networks = set(), []
        for host in hosts:
            try:
                self.networks.append(ipaddress.ip_network(host.strip("[]"), strict=False))
            except ValueError:
                self.names.add(host.lower().rstrip("."))

    def accepts(self, name: str) -> bool:
        try:
            address = ipaddress.ip_address(name)
        except ValueError:
            return name in self.names or any(n.startswith("*.") and name.endswith(n[1:]) for n in self.names)
        return any(address in network for network in self.networks)


class Access:
    """ASGI middleware: the Host check (when `hosts` is given) and the token check (when `token` is)."""

    def __init__(self, app, hosts: list[str] | None = None, token: str | None = None):
        self.app = app
        self.rule = HostRule(hosts) if hosts is not None else None
        self.token = token

    async def __call__(self, scope, receive, send):
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", ())}
        refusal, set_cookie = self._refusal(scope, headers)
        if refusal is not None and scope["type"] == "websocket":  # none are served; refused all the same
            await send({"type": "websocket.close", "code": 1008})
            return
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        if set_cookie is None:
            await self.app(scope, receive, send)
            return

        async def send_with_cookie(message):
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), (b"set-cookie", set_cookie)]}
            await send(message)

        await self.app(scope, receive, send_with_cookie)

    def _refusal(self, scope, headers: dict[str, str]) -> tuple[JSONResponse | None, bytes | None]:
        """(a 400 or 403 response, or None; the Set-Cookie header to add, or None)."""
        if self.rule is not None:
            host = headers.get("host", "")
            if not self.rule.accepts(host_name(host)):
                return _refuse(400, f"this server does not answer to Host {excerpt(host)} (start it with "
                                    f"--allow-host NAME to add a name)"), None
        if self.token is None:
            return None, None
        cookie_name = f"vaelab-token-{(scope.get('server') or ('', 0))[1]}"  # one per port: servers side by side
        query = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("token", [])
        bearer = headers.get("authorization", "")
        cookies = SimpleCookie()
        try:
            cookies.load(headers.get("cookie", ""))
        except CookieError:  # a malformed Cookie header carries no token
            cookies = SimpleCookie()
        cookie = cookies[cookie_name].value if cookie_name in cookies else None
        bearer = bearer[7:] if bearer[:7].lower() == "bearer " else None
        if not any(self._matches(t) for t in (*query, bearer, cookie)):
            return _refuse(403, "this explorer needs its access token: open the URL it printed at start "
                                "(.../?token=...) or send Authorization: Bearer TOKEN"), None
        if query and not self._matches(cookie):  # the page's own requests then carry it
            return None, f"{cookie_name}={self.token}; Path=/; HttpOnly; SameSite=Strict".encode()
        return None, None

    def _matches(self, given: str | None) -> bool:
        return given is not None and secrets.compare_digest(given.encode(), self.token.encode())


def _refuse(status: int, message: str) -> JSONResponse:
    return JSONResponse({"detail": message}, status_code=status)
