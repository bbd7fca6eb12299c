"""Pooled venue sessions: keep-alive reuse, explicit timeouts, rebuilt when unhealthy."""

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from core.http import VenueHttp
from exchanges.errors import RequestTimeout, VenueUnavailable


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    ports: set = set()

    def do_GET(self):
        Handler.ports.add(self.client_address[1])
        if self.path == "/slow":
            time.sleep(0.5)
        body = b"{}"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    Handler.ports = set()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_requests_reuse_one_kept_alive_connection(server):
    http = VenueHttp("t", connect_timeout=1, read_timeout=2)
    for _ in range(20):
        assert http.request("GET", f"{server}/x").status_code == 200
    assert len(Handler.ports) == 1


def test_read_timeout_is_an_unknown_outcome(server):
    http = VenueHttp("t", connect_timeout=1, read_timeout=0.1)
    with pytest.raises(RequestTimeout, match=r"no answer within 0\.1s"):
        http.request("GET", f"{server}/slow")


def test_session_rebuilt_after_repeated_connection_failures():
    http = VenueHttp("t", connect_timeout=0.2, read_timeout=0.2)
    for _ in range(3):
        with pytest.raises(VenueUnavailable, match="connection failed"):
            http.request("GET", "http://127.0.0.1:1/")
    assert http.recreated == 1
