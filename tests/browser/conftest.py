"""Fixtures for the browser tests: the built book, a local web server, Debian's Chromium.

* The book is ``<root>/_build/html`` (root: the repository, or ``$S2S_BOOK_DIR`` for a
  scratch copy); it is built with the virtualenv's ``jupyter-book`` only if its
  ``index.html`` is missing.
* It is served by ``http.server`` on 127.0.0.1 (a free port) in a thread, and every request
  to another host is aborted, so the test never touches the network.
* Chromium is Debian's ``/usr/bin/chromium`` driven by Playwright's sync API (never
  ``playwright install``). Without it the tests skip, unless ``S2S_REQUIRE_BROWSER=1``
  (set by CI), where they fail.
* Pages are read from ``_toc.yml``, so a new chapter is tested without touching this file.
"""
from __future__ import annotations

import functools
import http.server
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from book_site import BOOK, CHROMIUM, CHROMIUM_ARGS, HTML, toc_pages


def pytest_generate_tests(metafunc):
    if "page_name" in metafunc.fixturenames:
        metafunc.parametrize("page_name", toc_pages())


def _need_browser(reason: str):
    if os.environ.get("S2S_REQUIRE_BROWSER") == "1":
        pytest.fail(f"{reason} (S2S_REQUIRE_BROWSER=1, so this is a failure)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def browser():
    """Debian's Chromium under Playwright (headless)."""
    if not CHROMIUM.exists():
        _need_browser(f"{CHROMIUM} is missing: install Debian's chromium (make browser-deps)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _need_browser("the playwright package is missing (pip install playwright)")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="session")
def built_book() -> Path:
    """``_build/html``, built now (strict) if ``index.html`` is missing."""
    if not (HTML / "index.html").exists():
        jupyter_book = Path(sys.executable).parent / "jupyter-book"
        result = subprocess.run([str(jupyter_book), "build", str(BOOK), "-W", "-n", "--keep-going"],
                                cwd=BOOK, capture_output=True, text=True)
        if result.returncode != 0 or not (HTML / "index.html").exists():
            pytest.fail("jupyter-book build failed:\n" + (result.stdout + result.stderr)[-4000:], pytrace=False)
    return HTML


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="session")
def site(built_book):
    """Base URL of the book served on 127.0.0.1 (ends with '/')."""
    handler = functools.partial(_QuietHandler, directory=str(built_book))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()
