"""The starter app's server: answers its readiness check, and little else.

One program for both images; each image's Dockerfile says which service it is (SERVICE), where
its readiness check lives (HEALTH_PATH) and its port (PORT).
"""

import json
import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SERVICE = os.environ.get("SERVICE", "api")
HEALTH_PATH = os.environ.get("HEALTH_PATH", "/health/ready")
VERSION = os.environ.get("APP_VERSION", "dev")


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path.split("?", 1)[0] == HEALTH_PATH:
            self.reply(200, {"status": "ok", "service": SERVICE, "version": VERSION})
        else:
            self.reply(404, {"error": "not found"})

    def reply(self, status: int, body: dict) -> None:
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: object) -> None:
        # One line per request on stdout: ECS ships it to CloudWatch Logs.
        print(f"{self.address_string()} {format % args}", flush=True)


if __name__ == "__main__":
    port = int(os.environ.get("PORT", "8000"))
    print(f"{SERVICE} listening on :{port} (version {VERSION})", flush=True)
    # Every interface: the load balancer reaches the task through its network interface.
    ThreadingHTTPServer(("0.0.0.0", port), Handler).serve_forever()
