"""The README's picture of the studio: a real studio on RUN_DIR, 16 bars for strings generated in headless Chromium.

Run: ``.venv/bin/python docs/studio_screenshot.py out/demo/run docs/assets/studio.png`` (needs Debian's chromium,
``make system-deps``). The same steps as ``tests/test_studio_browser.py``, on a real model instead of a tiny one.
"""

from __future__ import annotations

import shutil
import socket
import sys
import threading
import time
from pathlib import Path

import uvicorn
from playwright.sync_api import sync_playwright

from tunesmith.studio.app import Studio, create_app


def main(run_dir: str, out: str, seed: int = 11) -> None:
    """Serve ``run_dir``, generate twice, move the playhead and save the page to ``out``."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(Studio([Path(run_dir)])), port=port, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    browser_path = shutil.which("chromium") or shutil.which("chromium-headless-shell")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=browser_path, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1280, "height": 860})
        page.set_default_timeout(300_000)
        page.goto(f"http://127.0.0.1:{port}/")
        page.wait_for_function("document.querySelectorAll('#run option').length > 0")
        page.select_option("#instruments", "strings")
        page.fill("#length", "16")
        page.check("#seed-lock")
        page.fill("#seed", str(seed))
        page.fill("#temperature", "0.9")
        page.dispatch_event("#temperature", "input")
        for _ in range(2):  # a second take with the temperature tweaked, so the history shows two
            page.click("#generate")
            rows = page.locator("#history tbody tr").count()
            page.wait_for_function(f"document.querySelectorAll('#history tbody tr').length === {rows + 1}")
            page.fill("#temperature", "1.0")
            page.dispatch_event("#temperature", "input")
        page.wait_for_function("document.querySelector('#player').readyState >= 2")
        page.evaluate("const a = document.querySelector('#player'); a.muted = true; a.currentTime = a.duration * 0.4")
        page.wait_for_timeout(500)
        page.screenshot(path=out, full_page=True)
        browser.close()
    server.should_exit = True
    print(f"wrote {out}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
