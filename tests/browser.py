"""A tiny headless-Chromium driver over the DevTools protocol (loopback only).

Used by the browser test to open built pages from disk, wait for MathJax, and
read what a reader would see: typeset math, loaded images, links.
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
import urllib.request

import websocket

FLAGS = [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-extensions", "--disable-dev-shm-usage", "--hide-scrollbars",
    "--window-size=1280,1000", "--remote-allow-origins=*",
]


def find_chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


class Browser:
    def __init__(self, binary: str, timeout: float = 30.0):
        self.profile = tempfile.mkdtemp(prefix="aecourse-chromium-")
        self.proc = subprocess.Popen(
            [binary, *FLAGS, f"--user-data-dir={self.profile}", "--remote-debugging-port=0", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        port = None
        deadline = time.time() + timeout
        while time.time() < deadline and port is None:
            line = self.proc.stderr.readline()
            if not line and self.proc.poll() is not None:
                raise RuntimeError("chromium exited before it opened its DevTools port")
            m = re.search(r"ws://127\.0\.0\.1:(\d+)/", line)
            if m:
                port = int(m.group(1))
        if port is None:
            raise RuntimeError("chromium did not report a DevTools port in time")
        targets = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10))
        page = next(t for t in targets if t.get("type") == "page")
        self.ws = websocket.create_connection(page["webSocketDebuggerUrl"], timeout=timeout)
        self._ids = itertools.count(1)
        self.send("Page.enable")
        self.send("Runtime.enable")

    def send(self, method: str, **params):
        msg_id = next(self._ids)
        self.ws.send(json.dumps({"id": msg_id, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == msg_id:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})

    def evaluate(self, expression: str, await_promise: bool = False):
        res = self.send("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=await_promise)
        if "exceptionDetails" in res:
            raise RuntimeError(f"page script failed: {res['exceptionDetails']}")
        return res["result"].get("value")

    # What DevTools says when a script runs while the page is being replaced (a meta refresh,
    # a redirect, or our own Page.navigate not yet committed): try again, it is not a page error.
    NAVIGATING = ("navigated or closed", "Cannot find context", "context was destroyed")

    def _evaluate_while_loading(self, expression: str, await_promise: bool = False):
        try:
            return True, self.evaluate(expression, await_promise)
        except RuntimeError as err:
            if any(s in str(err) for s in self.NAVIGATING):
                return False, None
            raise

    def open(self, url: str, timeout: float = 30.0) -> None:
        """Navigate to ``url`` and return once it has loaded and MathJax (if any) has typeset.

        A page that is replaced while loading (the book's index.html redirects by meta refresh)
        makes DevTools answer "Inspected target navigated or closed"; that is retried, never
        reported as a page error. A page that does not load in ``timeout`` seconds is an error.
        """
        ok, before = self._evaluate_while_loading("location.href")
        before = before if ok else None
        self.send("Page.navigate", url=url)
        deadline = time.time() + timeout
        state = None
        while True:
            ok, state = self._evaluate_while_loading(
                "[document.readyState, location.href, !!document.querySelector('meta[http-equiv=Refresh i]')]")
            if ok:
                ready, href, refresh = state
                # Loaded: the page itself (unless it is about to send the reader on by meta refresh),
                # or the page a redirect sent us to (the redirect may finish before the first look).
                arrived = (href == url and not refresh) or href not in (url, before, "about:blank")
                if ready == "complete" and arrived:
                    # MathJax 3 typesets after load; wait for its promise when it is on the page.
                    ok, _ = self._evaluate_while_loading(
                        "(window.MathJax && MathJax.startup && MathJax.startup.promise) "
                        "? MathJax.startup.promise.then(() => true) : Promise.resolve(false)", await_promise=True)
                    if ok:
                        return
            if time.time() > deadline:
                raise RuntimeError(f"{url} did not finish loading within {timeout:.0f} s (last state: {state})")
            time.sleep(0.1)

    def screenshot(self, path: str) -> None:
        data = self.send("Page.captureScreenshot", format="png")["data"]
        with open(path, "wb") as f:
            f.write(base64.b64decode(data))

    def close(self) -> None:
        try:
            self.ws.close()
        finally:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
            shutil.rmtree(self.profile, ignore_errors=True)


PAGE_FACTS = r"""
(() => {
  const main = document.querySelector('main') || document.body;
  const text = main.innerText;
  const imgs = [...document.images].map(i => ({src: i.getAttribute('src'), ok: i.complete && i.naturalWidth > 0}));
  const links = [...document.querySelectorAll('a[href]')].map(a => a.getAttribute('href'));
  // Figures in the page's own content, and the links that cite a figure ({numref} renders
  // "Fig. N" and the course labels figures fig-...): where each points and what it finds there.
  const figures = [...main.querySelectorAll('figure')].map(f => ({
    id: f.id || (f.querySelector('[id]') || {}).id || null,
    images: [...f.querySelectorAll('img')].map(i => ({src: i.getAttribute('src'), ok: i.complete && i.naturalWidth > 0,
                                                      width: i.getBoundingClientRect().width})),
  }));
  const figure_links = [...main.querySelectorAll('a[href]')].filter(a => {
    const u = new URL(a.href, location.href);
    return /^#fig-/.test(u.hash) || /^\s*Fig(ure)?\.?\s*\d/.test(a.textContent);
  }).map(a => {
    const u = new URL(a.href, location.href);
    const same = u.origin === location.origin && u.pathname === location.pathname;
    const target = same && u.hash ? document.getElementById(decodeURIComponent(u.hash.slice(1))) : null;
    return {href: a.getAttribute('href'), text: a.textContent.trim(), same_page: same,
            target_is_figure: !!(target && (target.tagName === 'FIGURE' || target.closest('figure')))};
  });
  return {
    mathjax_version: (window.MathJax && MathJax.version) || null,
    typeset: document.querySelectorAll('mjx-container').length,
    math_nodes: document.querySelectorAll('.math').length,
    raw_display_math: (text.match(/\$\$/g) || []).length,
    raw_tex: /\\(begin|frac|sum|lVert|mathbf)\b/.test(text),
    images: imgs,
    links: links,
    figures: figures,
    figure_links: figure_links,
    title: document.title,
  };
})()
"""


def page_facts(browser: Browser) -> dict:
    return browser.evaluate(PAGE_FACTS)


def figure_problems(facts: dict) -> list[str]:
    """What a reader of a chapter page would miss: figures that did not load, figure links that leave the page."""
    problems = []
    for fig in facts["figures"]:
        if not fig["images"]:
            continue
        bad = [i["src"] for i in fig["images"] if not i["ok"]]
        if bad:
            problems.append(f"figure {fig['id']}: image not loaded {bad}")
    for link in facts["figure_links"]:
        if not link["same_page"]:
            problems.append(f"{link['text']!r} ({link['href']}) points at another page, not at a figure on this one")
        elif not link["target_is_figure"]:
            problems.append(f"{link['text']!r} ({link['href']}) finds no figure on this page")
    return problems


def env_without_proxy() -> dict:
    env = dict(os.environ)
    for k in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
        env.pop(k, None)
    return env
