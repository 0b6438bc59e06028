"""`vaelab serve`: the latent explorer, a local web page and JSON API over one run (vaelab.serve)."""
from __future__ import annotations

import socket

from ..errors import InputError, ResourceError
from ..extras import require
from .options import add_run_argument

EXAMPLES = """examples:
  vaelab serve runs/demo                      # open the printed http://127.0.0.1:8000/ ; API docs at /docs
  vaelab serve runs/demo --port 0             # any free port (printed)
  vaelab serve runs/cvae-8 --examples 2000    # fewer test examples on the map, faster start
  vaelab serve runs/demo --host 0.0.0.0       # reachable from other machines: prints a URL with ?token=...
  vaelab serve runs/demo --host 0.0.0.0 --token "$(cat ~/.explorer-token)"   # your own token
  vaelab serve runs/demo --host 0.0.0.0 --allow-host explorer.lab.example    # a name it is reached by

access token: with a --host other than 127.0.0.1, ::1 or localhost every request needs it. Open the
printed URL once (the page keeps the token in a cookie), or send ?token=TOKEN or the header
Authorization: Bearer TOKEN; others get 403. A request naming an unknown Host (not a loopback name,
this machine's name, the --host address, any for 0.0.0.0, or an --allow-host) gets 400."""


def register(commands) -> None:
    s = commands.add("serve", "Explore a run's latent space in the browser: sliders, sampling, interpolation, "
                              "attribute vectors and a map of the test examples, with a JSON API.", EXAMPLES, run)
    add_run_argument(s)
    s.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default 127.0.0.1: this machine only)")
    s.add_argument("--port", type=int, default=8000, help="port (0 picks a free one)")
    s.add_argument("--examples", type=int, default=10_000,
                   help="test examples encoded for the map and the example pickers")
    s.add_argument("--token", help="the access token requests must carry (default: none on 127.0.0.1, "
                                   "else a fresh one, printed at start in the URL)")
    s.add_argument("--allow-host", action="append", default=[], metavar="NAME",
                   help="another Host name (or *.domain) the server answers to, e.g. behind a proxy; repeatable")


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on host:port, made before the slow start so that a taken port fails at once."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host.strip("[]"), port, type=socket.SOCK_STREAM,
                                                              flags=socket.AI_PASSIVE)[0]
        sock = socket.socket(family, kind, proto)
    except (OSError, UnicodeError) as e:
        raise ResourceError(f"cannot listen on {host}:{port}: {e}") from None
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)  # from here on connections wait in the queue, so the URL works once it is printed
    except OSError as e:
        sock.close()
        raise ResourceError(f"cannot listen on {host}:{port}: {e.strerror or e}") from None
    return sock


def url_of(sock: socket.socket, token: str | None = None) -> str:
    host, port = sock.getsockname()[:2]
    if host in ("0.0.0.0", "::"):  # every address: the machine's name is one other machines can use
        host = socket.gethostname()
    url = f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"
    return url + (f"?token={token}" if token else "")


def run(args) -> int:
    require("serve")
    import torch
    import uvicorn

    from ..serve import create_app
    from ..serve.access import access_for, is_loopback

    if not 0 <= args.port <= 65535:
        raise InputError(f"--port must be between 0 and 65535, got {args.port}")
    if args.examples < 1:
        raise InputError(f"--examples must be at least 1, got {args.examples}")
    hosts, token = access_for(args.host, args.token, args.allow_host)
    # One thread per request: requests run side by side on the server's thread pool, and a small
    # decoder gains nothing from splitting one image over cores that the other requests need.
    torch.set_num_threads(1)
    sock = bind(args.host, args.port)
    try:
        app = create_app(args.run, max_examples=args.examples, data=args.data, allowed_hosts=hosts, token=token)
        server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
        url = url_of(sock)
        print(f"vaelab explorer for {args.run}: {url_of(sock, token)}  (API docs: {url}docs; Ctrl+C stops)",
              flush=True)
        if not is_loopback(args.host):
            print(f"note: listening on {args.host}: requests need the token in the URL above (the page keeps it "
                  f"in a cookie) or the header Authorization: Bearer TOKEN", flush=True)
        try:
            server.run(sockets=[sock])
        except KeyboardInterrupt:  # uvicorn shuts down gracefully, then passes the Ctrl+C on
            pass
    finally:
        sock.close()
    print("stopped", flush=True)
    return 0
