"""The starter API: answers its readiness check at /health/ready, and little else."""

import json
import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

VERSION = os.environ.get("APP_VERSION", "dev")
HEALTH_PATH = "/health/ready"


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path.split("?", 1)[0] == HEALTH_PATH:
            self.reply(200, {"status": "ok", "service": "api", "version": VERSION})
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
    print(f"api listening on :{port} (version {VERSION})", flush=True)
    # Every interface: the load balancer reaches the task through its network interface.
    ThreadingHTTPServer(("0.0.0.0", port), Handler).serve_forever()
