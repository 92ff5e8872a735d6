#!/usr/bin/env python3
"""Open N kept-alive HTTP/1.1 client connections and leave them idle.

Used by benches/compare/idle.sh to measure a proxy's memory per idle client
connection. Each connection sends one `GET / HTTP/1.1` request (keep-alive),
reads its whole response (Content-Length or chunked), then stays open and
sends nothing more. At most --concurrency requests are in flight at once, so
that the proxy needs few server connections.

Prints `ready ok=K failed=F` once every connection has its answer (or
failed), then waits. On SIGUSR1 it prints `open=O` (how many of the K are
still open) and exits, closing them all; SIGTERM/SIGINT exit at once.

    python3 idle_clients.py --port 8080 --conns 4000 [--host 127.0.0.1]
"""

import argparse
import asyncio
import signal
import sys


class Conn(asyncio.Protocol):
    """One client connection: one request, its response, then idle."""

    __slots__ = ("request", "done", "buf", "need", "chunked", "open")

    def __init__(self, request, done):
        self.request = request
        self.done = done
        self.buf = b""
        self.need = None  # body bytes still expected (Content-Length)
        self.chunked = False
        self.open = True

    def connection_made(self, transport):
        transport.write(self.request)

    def data_received(self, data):
        if self.done.done():
            return  # nothing more is expected; ignore
        self.buf += data
        if self.need is None and not self.chunked:
            head_end = self.buf.find(b"\r\n\r\n")
            if head_end < 0:
                return
            head = self.buf[:head_end].decode("latin-1").lower().split("\r\n")
            if not head[0].startswith("http/1.1 2"):
                self.done.set_exception(RuntimeError(f"status line {head[0]!r}"))
                return
            self.buf = self.buf[head_end + 4:]
            for line in head[1:]:
                name, _, value = line.partition(":")
                if name == "content-length":
                    self.need = int(value)
                elif name == "transfer-encoding" and "chunked" in value:
                    self.chunked = True
            if self.need is None and not self.chunked:
                self.done.set_exception(RuntimeError("no Content-Length, not chunked"))
                return
        if self.chunked:
            if self.buf.endswith(b"0\r\n\r\n"):
                self.buf = b""
                self.done.set_result(True)
        elif len(self.buf) >= self.need:
            self.buf = b""
            self.done.set_result(True)

    def connection_lost(self, exc):
        self.open = False
        if not self.done.done():
            self.done.set_exception(ConnectionError("closed before the response ended"))


async def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--conns", type=int, required=True)
    ap.add_argument("--concurrency", type=int, default=50)
    ap.add_argument("--timeout", type=float, default=10.0, help="seconds per connection")
    args = ap.parse_args()

    loop = asyncio.get_running_loop()
    request = (f"GET / HTTP/1.1\r\nHost: {args.host}:{args.port}\r\n"
               "User-Agent: idle_clients\r\nAccept: */*\r\n\r\n").encode()
    sem = asyncio.Semaphore(args.concurrency)
    conns = []
    errors = {}

    async def one():
        async with sem:
            done = loop.create_future()
            try:
                transport, proto = await asyncio.wait_for(
                    loop.create_connection(lambda: Conn(request, done), args.host, args.port), args.timeout)
            except (OSError, asyncio.TimeoutError) as e:
                errors[type(e).__name__] = errors.get(type(e).__name__, 0) + 1
                return
            try:
                await asyncio.wait_for(done, args.timeout)
            except (OSError, RuntimeError, asyncio.TimeoutError) as e:
                errors[str(e) or type(e).__name__] = errors.get(str(e) or type(e).__name__, 0) + 1
                transport.close()
                return
            conns.append((transport, proto))

    stop = loop.create_future()
    loop.add_signal_handler(signal.SIGUSR1, lambda: stop.done() or stop.set_result("usr1"))
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, lambda: stop.done() or stop.set_result("term"))

    await asyncio.gather(*(one() for _ in range(args.conns)))
    failed = args.conns - len(conns)
    print(f"ready ok={len(conns)} failed={failed}", flush=True)
    if errors:
        print("errors: " + "; ".join(f"{k} x{v}" for k, v in errors.items()), file=sys.stderr, flush=True)
    if await stop == "usr1":
        print(f"open={sum(p.open for _, p in conns)}", flush=True)
    for transport, _ in conns:
        transport.close()


if __name__ == "__main__":
    asyncio.run(main())
