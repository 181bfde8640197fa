"""``views.live()`` under a real Jupyter kernel, and where there is none.

``tests/test_views.py`` builds live()'s widgets in-process (the kernel faked). Here a small
notebook, built with nbformat like chapters 1 and 99 use live(), runs in an ipykernel kept
alive by nbclient; the test then moves the slider twice, as the two sides can:

* **a frontend** (a learner dragging it): a ``comm_msg`` ``update`` sent to the slider's
  comm, as JupyterLab sends it; what comes back on iopub is what a frontend would draw;
* **the kernel** (a later cell ``slider.value = ...``).

Each time the view function must run again, and the ``Output`` widget's state (kept by
nbclient as a frontend keeps it, from comm_open/comm_msg) must hold the new view.
"""
from __future__ import annotations

import hashlib
import subprocess
import sys
import time

import nbformat
import pytest

pytest.importorskip("ipywidgets")
pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

VIEW_CELL = '''\
import hashlib
import ipywidgets as widgets
from s2s_lib import views

calls = []


def ramp_view(n):
    calls.append(n)
    return views.line_grid({(): {"ramp": [float(i) for i in range(1, n + 1)]}}, {},
                           title=f"ramp of length {n}", x_label="t", y_label="value")


slider = widgets.IntSlider(value=3, min=2, max=20, description="n", continuous_update=False)
box = views.live(ramp_view, n=slider)
box'''

# What the kernel holds: the calls made and a digest of the Output widget's current HTML.
PROBE_CELL = '''\
html = "".join(o.get("data", {}).get("text/html", "") for o in box.s2s_output.outputs)
print(calls, box.s2s_inputs["n"] is slider, hashlib.sha256(html.encode()).hexdigest()[:16], "ramp of length" in html)'''


def _stdout(cell) -> str:
    return "".join(o.get("text", "") for o in cell.outputs if o.get("name") == "stdout").strip()


def _output_html(state: dict, box_id: str) -> str:
    """The HTML a frontend shows in the live box's Output widget (VBox -> [HBox, Output])."""
    output_id = state[box_id]["children"][1].removeprefix("IPY_MODEL_")
    assert state[output_id]["_model_name"] == "OutputModel"
    return "".join(o.get("data", {}).get("text/html", "") for o in state[output_id]["outputs"])


def _frontend_update(client, comm_id: str, state: dict, timeout: float = 30) -> list:
    """Send ``update`` to a widget as a frontend does; return the iopub messages it caused."""
    from jupyter_core.utils import run_sync

    msg = client.kc.session.msg("comm_msg", {"comm_id": comm_id,
                                             "data": {"method": "update", "state": state, "buffer_paths": []}})
    client.kc.shell_channel.send(msg)
    replies, deadline = [], time.monotonic() + timeout
    while time.monotonic() < deadline:
        reply = run_sync(client.kc.iopub_channel.get_msg)(timeout=deadline - time.monotonic())
        if reply["parent_header"].get("msg_id") != msg["header"]["msg_id"]:
            continue
        if reply["msg_type"] == "status" and reply["content"]["execution_state"] == "idle":
            return replies
        replies.append(reply)
    pytest.fail(f"the kernel did not finish handling the slider update within {timeout} s")


def _apply(state: dict, replies: list) -> None:
    """Keep the widget state as a frontend does: every comm_msg ``update`` merges its state."""
    for reply in replies:
        data = reply["content"].get("data", {})
        if reply["msg_type"] == "comm_msg" and data.get("method") in ("update", "echo_update"):
            state.setdefault(reply["content"]["comm_id"], {}).update(data["state"])


@pytest.mark.slow
def test_live_view_recomputes_in_a_kernel_when_the_slider_moves(tmp_path):
    from nbclient import NotebookClient

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(VIEW_CELL), nbformat.v4.new_code_cell(PROBE_CELL),
                                         nbformat.v4.new_code_cell("slider.value = 11"),
                                         nbformat.v4.new_code_cell(PROBE_CELL)])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    client = NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}})
    with client.setup_kernel():
        client.execute_cell(nb.cells[0], 0)
        shown = [o for o in nb.cells[0].outputs if o["output_type"] == "execute_result"]
        assert shown, nb.cells[0].outputs  # not a LiveUnavailable note: the kernel was recognised
        assert "application/vnd.jupyter.widget-view+json" in shown[0]["data"], shown[0]["data"]
        box_id = shown[0]["data"]["application/vnd.jupyter.widget-view+json"]["model_id"]
        state = client.widget_state
        slider_id = state[box_id]["children"][0]
        slider_id = state[slider_id.removeprefix("IPY_MODEL_")]["children"][0].removeprefix("IPY_MODEL_")
        assert state[slider_id]["_model_name"] == "IntSliderModel" and state[slider_id]["value"] == 3
        first = _output_html(state, box_id)
        assert "ramp of length 3" in first and 'data-s2s-kind="line_grid"' in first

        client.execute_cell(nb.cells[1], 1)
        calls, same_slider, digest_3, titled = _stdout(nb.cells[1]).rsplit(" ", 3)
        assert (calls, same_slider, titled) == ("[3]", "True", "True")
        assert digest_3 == hashlib.sha256(first.encode()).hexdigest()[:16]  # kernel and frontend agree

        # 1. A learner drags the slider to 7 (the frontend's comm message).
        _apply(state, _frontend_update(client, slider_id, {"value": 7}))
        moved = _output_html(state, box_id)
        assert "ramp of length 7" in moved and "ramp of length 3" not in moved
        client.execute_cell(nb.cells[1], 1)
        assert _stdout(nb.cells[1]).startswith("[3, 7] True ")

        # 2. A later cell sets it from the kernel.
        client.execute_cell(nb.cells[2], 2)
        client.execute_cell(nb.cells[3], 3)
        calls, same_slider, digest_11, titled = _stdout(nb.cells[3]).rsplit(" ", 3)
        assert (calls, same_slider, titled) == ("[3, 7, 11]", "True", "True")
        assert state[slider_id]["value"] == 11  # the kernel told the frontend
        last = _output_html(state, box_id)
        assert "ramp of length 11" in last and digest_11 == hashlib.sha256(last.encode()).hexdigest()[:16]
        assert len({digest_3, digest_11}) == 2


NO_KERNEL = '''\
from s2s_lib import views
result = views.live(lambda n: views.line_grid({(): {"x": [1.0, 2.0]}}, {}, title=f"n={n}", x_label="t",
                                              y_label="v"), n=[4, 5])
print(type(result).__name__, "|", result.reason, "|", 'data-s2s-kind="line_grid"' in result._repr_html_(),
      "n=4" in result._repr_html_())'''


@pytest.mark.parametrize("launcher", [[], ["-m", "IPython", "--no-banner", "--quick"]], ids=["python", "ipython"])
def test_live_without_a_kernel_shows_the_static_view_and_says_why(launcher, tmp_path):
    """A plain script and a terminal IPython (a shell, but no kernel) get LiveUnavailable."""
    script = tmp_path / "no_kernel.py"
    script.write_text(NO_KERNEL, encoding="utf-8")
    result = subprocess.run([sys.executable, *launcher, str(script)], capture_output=True, text=True,
                            timeout=120, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    line = result.stdout.strip().splitlines()[-1]
    assert line == ("LiveUnavailable | no Jupyter kernel is running, so nothing can be recomputed | True True"), line
