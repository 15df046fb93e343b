"""Run a notebook through a real Jupyter server, as JupyterLab does.

A server starts on loopback with a token; we start a kernel over its REST API and
execute the notebook's cells over the kernel's websocket channel, one by one,
failing on the first error.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import websocket

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "notebooks" / "00_getting_started.ipynb"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def api(base, token, method, path, body=None):
    req = urllib.request.Request(base + path, method=method, data=json.dumps(body).encode() if body is not None else None,
                                 headers={"Authorization": f"token {token}", "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read() or b"null")


def api_ok(base, token) -> bool:
    try:
        api(base, token, "GET", "/api/status")
        return True
    except OSError:
        return False


def execute(ws, session, code, timeout=600):
    msg_id = uuid.uuid4().hex
    ws.send(json.dumps({
        "header": {"msg_id": msg_id, "username": "test", "session": session, "msg_type": "execute_request",
                   "version": "5.3", "date": ""},
        "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
        "content": {"code": code, "silent": False, "store_history": True, "user_expressions": {},
                    "allow_stdin": False, "stop_on_error": True},
    }))
    outputs, deadline = [], time.time() + timeout
    while time.time() < deadline:
        msg = json.loads(ws.recv())
        if msg.get("parent_header", {}).get("msg_id") != msg_id:
            continue
        kind = msg["msg_type"]
        if kind in ("stream", "execute_result", "display_data", "error"):
            outputs.append(msg)
        if kind == "execute_reply" and msg["channel"] == "shell":
            return msg["content"], outputs
    raise TimeoutError(f"no reply within {timeout} s")


def test_notebook_runs_through_a_jupyter_server(tmp_path):
    port, token = free_port(), secrets.token_hex(16)
    env = dict(os.environ, AECOURSE_SMOKE="1", JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"),
               JUPYTER_CONFIG_DIR=str(tmp_path / "config"))
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyter_server", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
         f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={ROOT / 'notebooks'}", *(["--allow-root"] if os.geteuid() == 0 else [])],
        cwd=ROOT / "notebooks", env=env, stdout=subprocess.DEVNULL, stderr=open(tmp_path / "server.log", "w"))
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(1200):
            try:
                api(base, token, "GET", "/api/status")
                break
            except OSError:
                if server.poll() is not None:
                    break
                time.sleep(0.1)
        if server.poll() is not None or not api_ok(base, token):
            raise AssertionError("Jupyter server did not start: " + (tmp_path / "server.log").read_text()[-2000:])
        contents = api(base, token, "GET", "/api/contents/" + NOTEBOOK.name)
        assert contents["type"] == "notebook"
        kernel = api(base, token, "POST", "/api/kernels", {"name": "python3"})
        ws = websocket.create_connection(f"ws://127.0.0.1:{port}/api/kernels/{kernel['id']}/channels?token={token}",
                                         timeout=600)
        session = uuid.uuid4().hex
        cells = [c for c in contents["content"]["cells"] if c["cell_type"] == "code"]
        assert len(cells) >= 5
        images = 0
        for i, cell in enumerate(cells):
            reply, outputs = execute(ws, session, cell["source"])
            errors = [o["content"] for o in outputs if o["msg_type"] == "error"]
            assert reply["status"] == "ok", f"cell {i} failed: {errors}"
            images += sum("image/png" in o["content"].get("data", {}) for o in outputs)
        assert images >= 2, "the notebook's figures did not come back over the server"
        ws.close()
        api(base, token, "DELETE", f"/api/kernels/{kernel['id']}")
    finally:
        server.terminate()
        try:
            server.wait(15)
        except subprocess.TimeoutExpired:
            server.kill()
