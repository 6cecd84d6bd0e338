"""A tiny web app for the berth demo: serves its session's name on $PORT."""
import http.server
import os

PORT = int(os.environ.get("PORT", "3000"))
SLUG = os.environ.get("BERTH_SLUG", "main")


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = f"hello from session {SLUG} on port {PORT}\n".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, fmt, *args):
        print(fmt % args, flush=True)


http.server.ThreadingHTTPServer(("127.0.0.1", PORT), Handler).serve_forever()
