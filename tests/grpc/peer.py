"""A real gRPC server and client (Debian's python3-grpcio) for tests/grpc.rs.

    peer.py server PORT     serves test.Echo on 127.0.0.1:PORT (cleartext HTTP/2), prints "ready"
    peer.py client TARGET   calls every method through TARGET, prints one JSON object
    peer.py unary TARGET    one unary call: prints its status code name and the seconds it took
    peer.py slow TARGET     the same with a call the server answers after 3 s

Messages are raw bytes (no protobuf): the generic handlers pass them as they are.
"""
import json
import sys
import time
from concurrent import futures

import grpc


def serve(port):
    def unary(req, ctx):
        return req

    def server_stream(req, ctx):
        for i in range(3):
            yield req + str(i).encode()

    def client_stream(requests, ctx):
        return b"".join(requests)

    def bidi(requests, ctx):
        for m in requests:
            yield m.upper()

    def fail(req, ctx):
        ctx.abort(grpc.StatusCode.NOT_FOUND, "no such thing")

    def slow(req, ctx):
        time.sleep(3)
        return req

    handlers = {
        "Unary": grpc.unary_unary_rpc_method_handler(unary),
        "ServerStream": grpc.unary_stream_rpc_method_handler(server_stream),
        "ClientStream": grpc.stream_unary_rpc_method_handler(client_stream),
        "Bidi": grpc.stream_stream_rpc_method_handler(bidi),
        "Fail": grpc.unary_unary_rpc_method_handler(fail),
        "Slow": grpc.unary_unary_rpc_method_handler(slow),
    }
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    server.add_generic_rpc_handlers(
        (grpc.method_handlers_generic_handler("test.Echo", handlers),)
    )
    server.add_insecure_port(f"127.0.0.1:{port}")
    server.start()
    print("ready", flush=True)
    server.wait_for_termination()


def channel(target):
    # No proxy from the environment: the call goes to TARGET itself.
    return grpc.insecure_channel(target, options=[("grpc.enable_http_proxy", 0)])


def client(target):
    ch = channel(target)
    out = {}
    out["unary"] = ch.unary_unary("/test.Echo/Unary")(b"hello", timeout=10).decode()
    out["server_stream"] = [
        m.decode() for m in ch.unary_stream("/test.Echo/ServerStream")(b"n", timeout=10)
    ]
    out["client_stream"] = (
        ch.stream_unary("/test.Echo/ClientStream")(iter([b"a", b"b", b"c"]), timeout=10).decode()
    )
    out["bidi"] = [
        m.decode() for m in ch.stream_stream("/test.Echo/Bidi")(iter([b"x", b"y"]), timeout=10)
    ]
    try:
        ch.unary_unary("/test.Echo/Fail")(b"", timeout=10)
        out["fail"] = ["OK", ""]
    except grpc.RpcError as e:
        out["fail"] = [e.code().name, e.details()]
    start = time.monotonic()
    try:
        ch.unary_unary("/test.Echo/Slow")(b"", timeout=0.5)
        out["slow"] = ["OK", 0]
    except grpc.RpcError as e:
        out["slow"] = [e.code().name, time.monotonic() - start]
    print(json.dumps(out), flush=True)


def unary(target, method="Unary"):
    start = time.monotonic()
    try:
        channel(target).unary_unary(f"/test.Echo/{method}")(b"x", timeout=10)
        code = "OK"
    except grpc.RpcError as e:
        code = e.code().name
    print(json.dumps([code, time.monotonic() - start]), flush=True)


if __name__ == "__main__":
    {
        "server": lambda a: serve(int(a)),
        "client": client,
        "unary": unary,
        "slow": lambda t: unary(t, "Slow"),
    }[sys.argv[1]](sys.argv[2])
