"""Start the cached ComfyUI host as a real HTTP server and talk to it (standard library only).

Usable from the system python3 and from the host venv:

    from harness.server import ComfyServer
    with ComfyServer() as srv:                 # python3 -m harness.install must have run first
        entry = srv.run(prompt)                # API-format prompt dict -> /history entry
        png = srv.view(**entry["outputs"]["9"]["images"][0])

The server runs `VENV_PY main.py --cpu ... --base-directory BASE_DIR` from COMFY_DIR, so it sees our pack
only as BASE_DIR/custom_nodes/scapre, exactly as a user's install would; its output goes to a log file. It
serves the frontend its requirements pin (comfyui-frontend-package 1.32.9, in the venv), or with
`ComfyServer(front_end_root=paths.NEWEST_FRONTEND_DIR)` the newest one (harness.install extracts it there).
"""
import json
import os
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

from . import paths


class PromptRejected(Exception):
    """POST /prompt answered an error (HTTP 400: validation failed); `body` holds `error` and `node_errors`."""

    def __init__(self, status, body):
        self.status, self.body = status, body
        self.node_errors = body.get("node_errors", {}) if isinstance(body, dict) else {}
        super().__init__(f"HTTP {status}: {json.dumps(body)[:2000]}")


def free_port():
    """A TCP port that was free a moment ago on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ComfyServer:
    """A ComfyUI 0.3.75 server subprocess on 127.0.0.1; a context manager (start on enter, stop on exit)."""

    def __init__(self, extra_args=(), port=None, log_path=None, start_timeout=120.0, front_end_root=None):
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.extra_args = list(extra_args)  # e.g. ["--output-directory", DIR, "--cache-none"]
        self.front_end_root = front_end_root  # a frontend's static folder, served instead of the pinned one
        self.log_path = log_path or paths.CACHE / "logs" / f"server-{self.port}.log"
        self.start_timeout = start_timeout
        self.proc = None
        self.start_seconds = None

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    def start(self):
        """Launch the server and block until /system_stats answers; raise with the log tail if it does not."""
        if not (paths.VENV_PY.exists() and (paths.COMFY_DIR / "main.py").exists()):
            raise RuntimeError("no ComfyUI host under .cache/host: run `python3 -m harness.install` first")
        frontend = []
        if self.front_end_root is not None:
            if not (Path(self.front_end_root) / "index.html").is_file():
                raise RuntimeError(f"{self.front_end_root} holds no frontend (index.html): run "
                                   "`python3 -m harness.install` first")
            frontend = ["--front-end-root", str(self.front_end_root)]
        cmd = [str(paths.VENV_PY), "main.py", "--cpu", "--listen", "127.0.0.1", "--port", str(self.port),
               "--disable-auto-launch", "--disable-api-nodes", "--base-directory", str(paths.BASE_DIR),
               "--database-url", "sqlite:///:memory:", *frontend, *map(str, self.extra_args)]
        # The host must see the pack only through custom_nodes/, not through a PYTHONPATH the tests may set.
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        env["PYTHONUNBUFFERED"] = "1"
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(cmd, cwd=paths.COMFY_DIR, env=env, stdin=subprocess.DEVNULL,
                                         stdout=log, stderr=subprocess.STDOUT)
        try:
            self._wait_ready(t0)
        except BaseException:  # including Ctrl-C: never leave a server behind
            self.stop()
            raise
        self.start_seconds = time.perf_counter() - t0

    def _wait_ready(self, t0):
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"ComfyUI exited with {self.proc.returncode} while starting:\n{self._tail()}")
            try:
                self._get("/system_stats", timeout=2)
                return
            except OSError:  # connection refused / reset while it boots
                if time.perf_counter() - t0 > self.start_timeout:
                    msg = f"ComfyUI did not answer within {self.start_timeout} s:\n{self._tail()}"
                    raise TimeoutError(msg) from None
                time.sleep(0.2)

    def stop(self, timeout=15.0):
        """Terminate the server; kill it if it has not exited after `timeout` seconds."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    # --- HTTP ---------------------------------------------------------------------------------------------
    def _request(self, path, data=None, timeout=60.0):
        req = urllib.request.Request(self.url + path, data=None if data is None else json.dumps(data).encode(),
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.read()

    def _get(self, path, timeout=60.0):
        return json.loads(self._request(path, timeout=timeout))

    def object_info(self, node=None):
        """GET /object_info (all nodes) or /object_info/<node> (that node's entry, or KeyError)."""
        if node is None:
            return self._get("/object_info")
        return self._get("/object_info/" + urllib.parse.quote(node))[node]

    def queue(self, prompt):
        """POST an API-format prompt; return the reply ({prompt_id, number, node_errors}) or raise PromptRejected."""
        try:
            return json.loads(self._request("/prompt", {"prompt": prompt, "client_id": uuid.uuid4().hex}))
        except urllib.error.HTTPError as e:
            raw = e.read()
            try:
                body = json.loads(raw)
            except ValueError:
                body = {"error": raw.decode(errors="replace")}
            raise PromptRejected(e.code, body) from None

    def run(self, prompt, timeout=300.0):
        """Queue a prompt and poll /history until it completed or failed; return its history entry.

        The entry has `status` ({status_str: "success"|"error", completed, messages}) and `outputs`
        ({node_id: {"images": [{filename, subfolder, type}], ...}}). Raise TimeoutError if it takes too long.
        """
        prompt_id = self.queue(prompt)["prompt_id"]
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            entry = self._get(f"/history/{prompt_id}").get(prompt_id)
            if entry and (entry["status"].get("completed") or entry["status"].get("status_str") == "error"):
                return entry
            if self.proc.poll() is not None:
                raise RuntimeError(f"ComfyUI exited with {self.proc.returncode}:\n{self._tail()}")
            time.sleep(0.1)
        raise TimeoutError(f"prompt {prompt_id} not done after {timeout} s:\n{self._tail()}")

    def view(self, filename, subfolder="", type="output"):
        """GET /view: the bytes of an output/temp/input file (e.g. a SaveImage PNG)."""
        query = urllib.parse.urlencode({"filename": filename, "subfolder": subfolder, "type": type})
        return self._request("/view?" + query)

    def free(self):
        """POST /free: unload models and drop cached outputs, so the next run starts cold."""
        self._request("/free", {"unload_models": True, "free_memory": True})

    # --- log ----------------------------------------------------------------------------------------------
    def log_text(self):
        """Everything the server printed so far."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def _tail(self, lines=60):
        return "\n".join(self.log_text().splitlines()[-lines:])

    def import_failures(self, pack=paths.PACK_LINK_NAME):
        """Log lines saying a custom node folder named `pack` failed to import (empty when it loaded).

        ComfyUI keeps running when a pack fails, so tests must check this (and /object_info) explicitly.
        """
        folder = os.sep + "custom_nodes" + os.sep + pack
        return [line for line in self.log_text().splitlines()
                if ("(IMPORT FAILED)" in line or "Cannot import" in line)
                and (line.rstrip().endswith(folder) or folder + " " in line)]
