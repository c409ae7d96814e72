"""The HTTP side of the page: a `ThreadingHTTPServer` serving `page/` and a small JSON API.

    GET  /                         the page (index.html, app.js, app.css: no file from elsewhere)
    GET  /api/model                heads, classifier, limits (what the page draws its controls from)
    POST /api/jobs?name=N&task=T[&chain=1]   body: the image file's bytes -> 202 and the job's JSON
    GET  /api/jobs/<id>            state (queued with position, running with tiles done, done, failed)
    GET  /api/result/<id>.png      the restored PNG (as `restore --format png` writes it)
    GET  /api/input/<id>.png       the decoded input as PNG (the "before" image; TIFFs and EXIF turns too)

A request that cannot be served gets a 4xx status and `{"error": "<file name>: what is wrong"}`: a body
over `max_upload_bytes` (413), an unsupported, corrupt or too large image or one whose size cannot be
read from its header (400, 413), an unknown head or `auto` asked of a model without classifier (400), a
full queue, in images or pixels (503). Uploads from another web origin are refused (403), so a web page
open in the same browser cannot post to the app, and so is every request whose Host is not this server's
own name (403): a DNS-rebinding page (evil.example resolving to 127.0.0.1) is not answered.

Slow clients: a connection silent for `idle_timeout` seconds is closed; the listen backlog is 128.
Everything is written inside one `tempfile.mkdtemp` folder (uploads/, inputs/, results/), removed by
`close`; a finished job's files are removed with it (`jobs.KEEP_FINISHED`, `jobs.KEEP_SECONDS`).
"""

from __future__ import annotations

import http.server
import importlib.resources
import ipaddress
import json
import os
import re
import shutil
import socket
import sys
import tempfile
import threading
from urllib.parse import parse_qs, urlsplit

from keras_durbm.app.jobs import (
    DEFAULT_QUEUE_PIXELS,
    DONE,
    KEEP_FINISHED,
    KEEP_SECONDS,
    Job,
    JobQueue,
    QueueFull,
)
from keras_durbm.app.restoration import Request, RequestError, Restorer
from keras_durbm.cli import console_text

PAGE_FILES = {"/": ("index.html", "text/html; charset=utf-8"), "/index.html": ("index.html", "text/html; charset=utf-8"),
              "/app.js": ("app.js", "text/javascript; charset=utf-8"), "/app.css": ("app.css", "text/css; charset=utf-8")}
_JOB = r"([0-9a-f]{16})"
_CHUNK = 1 << 20
#: A refused upload's body is read and dropped up to this size (so the browser sees the answer, not a reset).
_DISCARD_LIMIT = 1 << 30
#: Seconds a connection may stay silent (before its request line, in its headers or body) before it is closed.
IDLE_TIMEOUT_S = 30.0
#: Host names the server answers to besides its own `--host` (any IP address is answered too: DNS
#: rebinding needs a name).
LOCAL_NAMES = ("localhost", "127.0.0.1", "::1")


def bind_error_text(host: str, port: int, error: OSError) -> str:
    """What a failed bind means for the user."""
    if getattr(error, "errno", None) in (98, 48, 10048):  # EADDRINUSE on Linux, macOS, Windows
        return f"port {port} on {host} is already in use (is the app already running?); choose another with --port"
    if getattr(error, "errno", None) in (13, 10013):
        return f"no permission to listen on port {port} of {host}; choose a port above 1023 with --port"
    return f"cannot listen on {host}:{port}: {error.strerror or error}"


def _safe_name(name: str) -> str:
    stem, ext = os.path.splitext(name)
    return (re.sub(r"[^A-Za-z0-9._-]", "_", stem)[:80] or "image") + re.sub(r"[^A-Za-z0-9.]", "", ext)[:8]


class AppServer(http.server.ThreadingHTTPServer):
    """Binds `address` and makes the temporary folder; `start(restorer)` starts the worker, then
    `serve_forever()`; `close()` stops both and removes the folder.

    `max_queue` images and `max_queue_pixels` pixels (None: no bound) may be held by the queue;
    `idle_timeout` closes silent connections; `keep_finished` / `keep_seconds` bound the finished jobs
    (and their files) kept for the page.
    """

    daemon_threads = True
    request_queue_size = 128  # the listen backlog (socketserver's default of 5 timed out bursts of requests)

    def __init__(self, address: tuple[str, int], *, max_upload_bytes: int = 256 << 20, max_queue: int = 16,
                 max_queue_pixels: int | None = DEFAULT_QUEUE_PIXELS, idle_timeout: float = IDLE_TIMEOUT_S,
                 keep_finished: int = KEEP_FINISHED, keep_seconds: float = KEEP_SECONDS):
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, Handler)
        self.max_upload_bytes = max_upload_bytes
        self.max_queue = max_queue
        self.max_queue_pixels = max_queue_pixels
        self.idle_timeout = idle_timeout
        self.keep_finished, self.keep_seconds = keep_finished, keep_seconds
        self.host_names = {*LOCAL_NAMES, address[0].strip("[]").lower()}
        self.restorer: Restorer | None = None
        self.jobs: JobQueue | None = None
        self._serving = False
        self._closed = False
        self._preview_lock = threading.Lock()
        self.folder = tempfile.mkdtemp(prefix="durbm-app-")
        for sub in ("uploads", "inputs", "results"):
            os.mkdir(os.path.join(self.folder, sub))

    def server_bind(self) -> None:
        # HTTPServer.server_bind looks the host's name up (socket.getfqdn), which can stall offline
        socketserver_bind = http.server.socketserver.TCPServer.server_bind
        socketserver_bind(self)
        self.server_name, self.server_port = self.server_address[:2]

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{f'[{host}]' if ':' in host else host}:{port}/"

    def path(self, sub: str, name: str) -> str:
        return os.path.join(self.folder, sub, name)

    def start(self, restorer: Restorer, log=None) -> None:
        self.restorer = restorer
        self.jobs = JobQueue(self._work, self._failure, max_waiting=self.max_queue, max_pixels=self.max_queue_pixels,
                             keep_finished=self.keep_finished, keep_seconds=self.keep_seconds, forget=self._forget,
                             log=log)

    def answers_to(self, host: str | None) -> bool:
        """Whether a request's Host header names this server: one of `LOCAL_NAMES`, the `--host` given, or an
        IP address (a page that rebinds its own DNS name to 127.0.0.1 sends that name, and is refused)."""
        match = re.fullmatch(r"(\[[0-9A-Fa-f:.]+\]|[^:\[\]@/\s]+)(?::[0-9]{1,5})?", host or "")
        if not match:
            return False
        name = match[1].strip("[]").lower()
        if name in self.host_names:
            return True
        try:
            ipaddress.ip_address(name)
        except ValueError:
            return False
        return True

    def serve_forever(self, poll_interval: float = 0.5) -> None:
        self._serving = True
        try:
            super().serve_forever(poll_interval)
        finally:
            self._serving = False

    def close(self, timeout: float = 30.0) -> None:
        """Stops serving (when another thread serves), stops the worker, removes the temporary folder."""
        if self._closed:
            return
        self._closed = True
        if self._serving:
            self.shutdown()
        self.server_close()
        if self.jobs is not None:
            self.jobs.close(timeout)
        shutil.rmtree(self.folder, ignore_errors=True)

    # --- what the worker does -------------------------------------------------------------------

    def _work(self, job: Job, progress) -> dict:
        request, image, extras, upload = job.payload
        outcome = self.restorer.run(request, image, extras, upload, self.path("results", f"{job.id}.png"), progress)
        if outcome.steps:
            summary = "; ".join(step["text"] for step in outcome.steps)
        else:
            summary = f"restored with {', '.join(outcome.heads)}"
        return {"outcome": outcome.outcome, "heads": list(outcome.heads), "steps": list(outcome.steps),
                "summary": summary, "result": f"/api/result/{job.id}.png"}

    def _failure(self, job: Job, error: BaseException) -> str:
        return self.restorer.failure_text(job.name, error, job.payload[3] if job.payload else "")

    # --- what the handlers call -----------------------------------------------------------------

    def _forget(self, job: Job) -> None:
        """Removes the files of a job the queue no longer keeps."""
        with self._preview_lock:
            for path in (job.upload, self.path("inputs", f"{job.id}.png"), self.path("results", f"{job.id}.png")):
                if path and os.path.exists(path):
                    os.remove(path)

    def submit(self, name: str, request: Request, upload: str) -> dict:
        """Checks the saved upload's header, reserves its pixels in the queue, then reads and queues it;
        `RequestError` for a bad image (nothing decoded when its header is bad or too large) or a full queue."""
        header = self.restorer.probe(upload, request.name)
        pixels = header.height * header.width
        try:
            self.jobs.reserve(pixels)
        except QueueFull as error:
            raise RequestError(503, f"{name}: not queued: {error}") from None
        try:
            image, extras = self.restorer.read(upload, request.name)
        except BaseException:
            self.jobs.cancel(pixels)
            raise
        job = Job(name, request.task, result={
            "width": int(image.shape[1]), "height": int(image.shape[0]), "bit_depth": extras.bit_depth,
            "alpha": extras.alpha is not None, "grayscale": extras.grayscale, "chain": request.chain,
            "download": os.path.splitext(name)[0] + ".png"})
        job.result["input"] = f"/api/input/{job.id}.png"
        job.payload, job.upload, job.pixels = (request, image, extras, upload), upload, pixels
        try:
            self.jobs.submit(job)
        except QueueFull as error:
            raise RequestError(503, f"{name}: not queued: {error}") from None
        return self.jobs.describe(job)

    def preview(self, job: Job) -> str:
        """The decoded input of `job` as a PNG (written on first request)."""
        path = self.path("inputs", f"{job.id}.png")
        with self._preview_lock:
            if not os.path.exists(path):
                from keras_durbm.images.io import write_image

                image, extras = self.restorer.read(job.upload, job.name)
                write_image(path, image, extras)
        return path


class Handler(http.server.BaseHTTPRequestHandler):
    server: AppServer
    server_version = "keras_durbm.app"

    def log_message(self, format, *args):
        pass  # one line per finished image is printed by the job queue instead

    def setup(self) -> None:
        self.timeout = self.server.idle_timeout  # every read of this connection: a silent client is dropped
        super().setup()

    def handle(self):
        try:
            super().handle()
        except (ConnectionError, TimeoutError):
            pass  # the browser went away mid-answer

    # --- answers --------------------------------------------------------------------------------

    def _send(self, status: int, body: bytes, content_type: str, headers: dict | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: int, data: dict) -> None:
        self._send(status, json.dumps(data).encode(), "application/json")

    def _error(self, status: int, message: str) -> None:
        self._json(status, {"error": message})

    def _file(self, path: str, content_type: str) -> None:
        try:
            with open(path, "rb") as handle:
                data = handle.read()
        except FileNotFoundError:
            self._error(404, "no longer kept on this server (finished images are kept for a while, then removed)")
            return
        self._send(200, data, content_type)

    def _job(self, job_id: str) -> Job | None:
        job = self.server.jobs.get(job_id) if self.server.jobs else None
        if job is None:
            self._error(404, f"no image {job_id} on this server (finished images are removed after "
                        f"{self.server.keep_seconds / 60:g} min or {self.server.keep_finished} newer ones; or the "
                        "server was restarted, or the link is wrong)")
        return job

    def _guarded(self, answer) -> None:
        host = self.headers.get("Host")
        if not self.server.answers_to(host):
            self.close_connection = True
            self._error(403, f"this server answers to {self.server.url} (or localhost), not to the Host "
                        f"{(host or '')[:100]!r}: a page of another site that resolves to this machine is refused")
            return
        try:
            answer()
        except (ConnectionError, TimeoutError):
            raise
        except Exception as error:  # a bug must not stop the server: say it, keep serving
            print(console_text(f"error: {self.command} {self.path[:200]}: {type(error).__name__}: {error}"),
                  file=sys.stderr, flush=True)
            self._error(500, f"internal error: {type(error).__name__}: {error}")

    # --- routes ---------------------------------------------------------------------------------

    def do_GET(self):
        self._guarded(self._get)

    def do_HEAD(self):
        self._guarded(self._get)

    def do_POST(self):
        self._guarded(self._post)

    def _get(self) -> None:
        path = urlsplit(self.path).path
        if path in PAGE_FILES:
            name, content_type = PAGE_FILES[path]
            page = importlib.resources.files("keras_durbm.app").joinpath("page", name)
            self._send(200, page.read_bytes(), content_type)
        elif path == "/api/model":
            self._json(200, {**self.server.restorer.info(), "max_upload_bytes": self.server.max_upload_bytes,
                             "max_queue": self.server.max_queue, "max_queue_pixels": self.server.max_queue_pixels})
        elif match := re.fullmatch(f"/api/jobs/{_JOB}", path):
            if job := self._job(match[1]):
                self._json(200, self.server.jobs.describe(job))
        elif match := re.fullmatch(f"/api/result/{_JOB}\\.png", path):
            if job := self._job(match[1]):
                if job.state != DONE:
                    self._error(409, f"{job.name}: not restored yet ({job.state})")
                else:
                    self._file(self.server.path("results", f"{job.id}.png"), "image/png")
        elif match := re.fullmatch(f"/api/input/{_JOB}\\.png", path):
            if job := self._job(match[1]):
                try:
                    self._file(self.server.preview(job), "image/png")
                except RequestError as error:
                    self._error(error.status, str(error))
        else:
            self._error(404, f"no such page: {path}")

    def _discard_body(self, length: int) -> None:
        if length > _DISCARD_LIMIT:
            self.close_connection = True
            return
        while length > 0:
            chunk = self.rfile.read(min(length, _CHUNK))
            if not chunk:
                break
            length -= len(chunk)

    def _refuse(self, status: int, message: str, length: int) -> None:
        self._discard_body(length)
        self._error(status, message)

    def _post(self) -> None:
        url = urlsplit(self.path)
        if url.path != "/api/jobs":
            self._error(404, f"no such page: {url.path}")
            return
        query = parse_qs(url.query)
        name = os.path.basename(query.get("name", [""])[0].replace("\\", "/"))
        task = query.get("task", [""])[0] or self.server.restorer.info()["default_task"]
        chain = query.get("chain", ["0"])[0].lower() in ("1", "true", "on", "yes")
        origin = self.headers.get("Origin")
        try:
            length = int(self.headers.get("Content-Length", ""))
        except ValueError:
            self.close_connection = True
            self._error(411, f"{name or 'upload'}: the request has no Content-Length")
            return
        if origin and urlsplit(origin).netloc != self.headers.get("Host"):
            self._refuse(403, f"{name}: uploads from another web page ({origin}) are refused", length)
            return
        limit = self.server.max_upload_bytes
        if length > limit:
            self._refuse(413, f"{name}: the file is {length / 2**20:.1f} MB, over the upload limit of "
                         f"{limit / 2**20:.1f} MB (--max-upload-mb)", length)
            return
        try:
            request = self.server.restorer.request(name, task, chain)
        except RequestError as error:
            self._refuse(error.status, str(error), length)
            return
        upload = self.server.path("uploads", f"{os.urandom(4).hex()}-{_safe_name(name)}")
        received = 0
        try:
            with open(upload, "wb") as handle:
                while received < length:
                    chunk = self.rfile.read(min(length - received, _CHUNK))
                    if not chunk:
                        break
                    handle.write(chunk)
                    received += len(chunk)
        except (ConnectionError, TimeoutError):  # the client went silent or away mid-upload: nothing is kept
            os.remove(upload)
            raise
        if received < length:
            os.remove(upload)
            self._error(400, f"{name}: the upload ended after {received} of {length} bytes")
            return
        try:
            self._json(202, self.server.submit(name, request, upload))
        except RequestError as error:
            os.remove(upload)
            self._error(error.status, str(error))
