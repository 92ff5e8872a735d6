"""The Python backend of the oracle suite (tests/backends/main.rs).

A WSGI app on the standard library's wsgiref server, as a small Python
service routes: PATH_INFO (percent-decoded by the server, %2F included)
starting with /admin is the admin route, anything else is "other". Each
request answers its route in the body and appends a line to the log:
`TAG route=ROUTE path=PATH_INFO`, TAG being the request's `x-oracle`
header. Usage: app.py PORT LOGFILE. Listens on 127.0.0.1 only.
"""

import sys
import threading
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

LOCK = threading.Lock()


def app(environ, start_response):
    path = environ.get("PATH_INFO", "")
    route = "admin" if path.startswith("/admin") else "other"
    tag = environ.get("HTTP_X_ORACLE", "-")
    # Control and non-ASCII characters escaped (\x00): one line per request.
    shown = ascii(path)[1:-1]
    with LOCK, open(LOG, "a", encoding="utf-8") as log:
        log.write(f"{tag} route={route} path={shown}\n")
    body = f"route={route} path={shown}\n".encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]


class Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class Quiet(WSGIRequestHandler):
    def log_message(self, *args):
        pass


if __name__ == "__main__":
    PORT, LOG = int(sys.argv[1]), sys.argv[2]
    make_server("127.0.0.1", PORT, app, server_class=Server, handler_class=Quiet).serve_forever()
