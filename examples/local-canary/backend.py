#!/usr/bin/env python3
"""A tiny backend for the local canary example: `backend.py PORT VERSION`.

GET /        -> "VERSION\n"
GET /health  -> 200 "ok", or 500 when VERSION ends in "-broken"
"""
import http.server
import sys


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        version = self.server.version
        if self.path.startswith("/health"):
            code = 500 if version.endswith("-broken") else 200
            body = b"broken\n" if code == 500 else b"ok\n"
        else:
            code, body = 200, (version + "\n").encode()
        try:
            self.send_response(code)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client went away; nothing to answer

    def log_message(self, *args):
        pass


def main():
    port, version = int(sys.argv[1]), sys.argv[2]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.version = version
    server.serve_forever()


if __name__ == "__main__":
    main()
