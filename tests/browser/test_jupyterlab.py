"""A live view in JupyterLab, driven in Debian's Chromium, offline (about 20 s).

``jupyter lab`` runs on 127.0.0.1 (a free port, a token, its config, data, runtime,
settings and workspaces folders in a temporary directory, no update check, the extension
manager read-only) over a notebook with one cell that calls ``views.live`` like chapters 1
and 99. The test opens it, runs the cell with Shift+Enter as a learner does, and checks that
the view is drawn inside the widget's Output (its JavaScript ran: ``data-s2s-rendered``);
then it moves the slider with the keyboard and with the mouse and checks that the kernel
recomputed the view each time. No request may leave 127.0.0.1 and the page may log no error.

Needs ``jupyterlab`` in the virtualenv; without it the test is skipped (a failure under
``S2S_REQUIRE_BROWSER=1`` once requirements.txt names jupyterlab).
"""
from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest

from book_site import ROOT, SCREENSHOTS

TOKEN = "s2s-browser-test"
VIEW_CELL = '''\
import ipywidgets as widgets
from s2s_lib import views


def ramp_view(n):
    return views.line_grid({(): {"ramp": [float(i) for i in range(1, n + 1)]}}, {},
                           title=f"ramp of length {n}", x_label="t", y_label="value")


views.live(ramp_view, n=widgets.IntSlider(value=3, min=2, max=20, description="n", continuous_update=False))'''
# The kernel of the notebook on screen is idle (needs LabApp.expose_app_in_browser).
KERNEL_IDLE = """() => {
  const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;
  const kernel = w && w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel;
  return !!kernel && kernel.status === "idle";
}"""
VIEW = ".jp-OutputArea .jupyter-widgets .s2sv"


def _required() -> bool:
    listed = (ROOT / "requirements.txt").read_text(encoding="utf-8")
    return os.environ.get("S2S_REQUIRE_BROWSER") == "1" and re.search(r"^jupyterlab\b", listed, re.M) is not None


@pytest.fixture(scope="module")
def jupyterlab(tmp_path_factory):
    """Base URL of a JupyterLab serving a folder with ``live.ipynb`` (ends with '/')."""
    try:
        import jupyterlab  # noqa: F401
    except ImportError:
        reason = "jupyterlab is not installed (pip install jupyterlab)"
        if _required():
            pytest.fail(f"{reason}; S2S_REQUIRE_BROWSER=1 and requirements.txt names it", pytrace=False)
        pytest.skip(reason)
    home = tmp_path_factory.mktemp("jupyterlab")
    work = home / "work"
    work.mkdir()
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(VIEW_CELL)])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, work / "live.ipynb")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = dict(os.environ, **{name: str(home / folder) for name, folder in [
        ("JUPYTER_CONFIG_DIR", "config"), ("JUPYTER_DATA_DIR", "data"), ("JUPYTER_RUNTIME_DIR", "runtime"),
        ("JUPYTERLAB_SETTINGS_DIR", "settings"), ("JUPYTERLAB_WORKSPACES_DIR", "workspaces")]})
    command = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.ip=127.0.0.1", f"--port={port}",
               "--ServerApp.port_retries=0", f"--IdentityProvider.token={TOKEN}", f"--ServerApp.root_dir={work}",
               "--LabApp.expose_app_in_browser=True", "--LabApp.news_url=", "--LabApp.extension_manager=readonly",
               "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
    if os.geteuid() == 0:
        command.append("--allow-root")
    log = home / "server.log"
    with open(log, "w") as out:
        server = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=work)
    base = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                urllib.request.urlopen(f"{base}api/status?token={TOKEN}", timeout=2).close()
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"jupyter lab did not start:\n{log.read_text()[-3000:]}", pytrace=False)
                time.sleep(0.25)
        yield base
    finally:
        server.terminate()  # JupyterLab shuts its kernels down on SIGTERM
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def _title(page) -> str:
    return page.eval_on_selector(VIEW, "v => v.innerText.split('\\n')[0].trim()")


def _title_is(prefix: str) -> str:
    """A predicate for ``wait_for_function``: the live view shows ``prefix``. While the output is
    re-rendered the view is briefly absent, which must read as "not yet", not as an error."""
    return f"() => {{ const v = document.querySelector('{VIEW}'); return !!v && v.innerText.startsWith('{prefix}'); }}"


@pytest.mark.browser
def test_live_view_follows_the_slider_in_jupyterlab(browser, jupyterlab):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    outside, problems = [], []

    def route(request_route):
        url = request_route.request.url
        if url.startswith(jupyterlab):
            request_route.continue_()
        else:
            outside.append(url)
            request_route.abort()

    page.route("**/*", route)
    page.on("console", lambda m: problems.append(f"console.{m.type}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda err: problems.append(f"uncaught: {err}"))
    try:
        page.goto(f"{jupyterlab}lab/tree/live.ipynb?token={TOKEN}")
        page.wait_for_function(KERNEL_IDLE, timeout=90_000)
        page.locator(".jp-Cell .jp-InputArea-editor").first.click()
        page.keyboard.press("Escape")  # command mode, then run the cell as a learner does
        page.keyboard.press("Shift+Enter")
        page.wait_for_selector(f'{VIEW}[data-s2s-rendered="1"]', timeout=60_000)  # the view's JS ran
        assert _title(page) == "ramp of length 3"

        handle = page.locator(".jp-OutputArea .widget-slider .noUi-handle").first
        handle.focus()
        page.keyboard.press("ArrowRight")
        page.wait_for_function(_title_is("ramp of length 4"), timeout=30_000)

        track = page.locator(".jp-OutputArea .widget-slider .noUi-target").first.bounding_box()
        box = handle.bounding_box()
        page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        page.mouse.down()
        page.mouse.move(track["x"] + track["width"] + 40, box["y"] + box["height"] / 2, steps=8)  # past the end
        page.mouse.up()
        page.wait_for_function(_title_is("ramp of length 20"), timeout=30_000)
        assert page.locator(f'{VIEW}[data-s2s-rendered="1"]').count() == 1  # replaced, not stacked
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SCREENSHOTS) / "jupyterlab_live.png"))
    finally:
        page.close()
    assert not outside, f"requests left 127.0.0.1: {outside}"
    assert not problems, problems
