"""Tests for s2s_lib.plotting: a Hangul font is really used, and the shared plots."""
import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib import font_manager  # noqa: E402

from s2s_lib import plotting  # noqa: E402


def test_default_font_has_hangul_glyphs():
    # the font matplotlib will actually pick for the default family
    path = font_manager.findfont(font_manager.FontProperties(family=matplotlib.rcParams["font.family"][0]))
    assert plotting.has_glyphs(path, "가한")
    assert plotting.has_glyphs(plotting.hangul_font_path(), "가한글")
    assert matplotlib.rcParams["axes.unicode_minus"] is False


def test_has_glyphs_detects_missing():
    dejavu = font_manager.findfont("DejaVu Sans")
    assert plotting.has_glyphs(dejavu, "abc")
    assert not plotting.has_glyphs(dejavu, "가")


def test_drawing_hangul_raises_no_missing_glyph_warning(recwarn):
    fig, ax = plt.subplots()
    ax.set_title("한국어 제목 -1 \u2581학교 <eos>")  # incl. SentencePiece's word marker
    fig.canvas.draw()
    plt.close(fig)
    assert not [w for w in recwarn if "missing from" in str(w.message)]


def test_heatmap_labels_and_bool_mask():
    mask = torch.tensor([[True, True, False], [True, False, False]])
    ax = plotting.heatmap(mask, ["가", "나", "<pad>"], ["문장1", "문장2"], title="마스크",
                          annotate=True, fmt="{:.0f}")
    assert [t.get_text() for t in ax.get_xticklabels()] == ["가", "나", "<pad>"]
    assert ax.get_title() == "마스크"
    assert np.array_equal(ax.images[0].get_array(), mask.numpy().astype(float))
    plt.close("all")


def test_heatmap_bad_inputs():
    with pytest.raises(ValueError, match="2-D"):
        plotting.heatmap(np.zeros(3))
    with pytest.raises(ValueError, match="x_labels"):
        plotting.heatmap(np.zeros((2, 3)), x_labels=["a"])
    with pytest.raises(ValueError, match="y_labels"):
        plotting.heatmap(np.zeros((2, 3)), y_labels=["a"])
    with pytest.raises(TypeError, match="numeric"):
        plotting.heatmap(np.array([["a", "b"]]))


def test_bar_counts():
    ax = plotting.bar_counts(["어절", "음절"], [6591, 1007], title="유형 수", log=True)
    assert len(ax.patches) == 2 and ax.get_yscale() == "log"
    with pytest.raises(ValueError, match="differ"):
        plotting.bar_counts(["a"], [1, 2])
    plt.close("all")


# Defect: each of these reached numpy/matplotlib/FreeType: nan/inf drew a silently blank or
# miscoloured map, complex numbers failed inside imshow, ragged rows gave numpy's message,
# x_labels=5 "object of type 'int' has no len()", a bad fmt str.format's message mid-drawing,
# bfloat16 tensors "Got unsupported ScalarType BFloat16".
@pytest.mark.parametrize("call, error, message", [
    (lambda: plotting.heatmap(np.full((2, 2), np.nan)), ValueError, "matrix holds 4 nan"),
    (lambda: plotting.heatmap(np.array([[np.inf, 1.0]])), ValueError, "1 inf"),
    (lambda: plotting.heatmap(np.zeros((0, 3))), ValueError, "at least one row and one column"),
    (lambda: plotting.heatmap(np.ones((2, 2), dtype=complex)), TypeError, "numeric"),
    (lambda: plotting.heatmap([[1, 2], [3]]), ValueError, "matrix must be a 2-D array"),
    (lambda: plotting.heatmap(np.ones((2, 2)), x_labels=5), TypeError, "x_labels must be a list"),
    (lambda: plotting.heatmap(np.ones((1, 1)), annotate=True, fmt="{:d}"), ValueError, "fmt"),
    (lambda: plotting.heatmap(np.ones((1, 1)), vmin=2, vmax=1), ValueError, "vmin"),
    (lambda: plotting.heatmap(np.ones((1, 1)), vmin=float("nan")), ValueError, "vmin must be a finite"),
    (lambda: plotting.bar_counts(["a"], [float("nan")]), ValueError, r"values\[0\] must be a finite"),
    (lambda: plotting.bar_counts(["a"], ["x"]), TypeError, r"values\[0\] must be a number"),
    (lambda: plotting.bar_counts(None, [1]), TypeError, "labels must be a list"),
    (lambda: plotting.bar_counts(["a", "b"], [0, 5], log=True), ValueError, r"values\[0\] = 0 .* log axis"),
    (lambda: plotting.bar_counts(["a"], [1.5], fmt="{:d}"), ValueError, "fmt"),
    (lambda: plotting.has_glyphs(None), TypeError, "font_path"),
])
def test_plot_helpers_name_bad_input(call, error, message):
    with pytest.raises(error, match=message):
        call()
    plt.close("all")


def test_a_file_that_is_not_a_font_and_bfloat16_heatmaps(tmp_path):
    not_a_font = tmp_path / "x.ttf"
    not_a_font.write_text("hello")
    with pytest.raises(ValueError, match="not a font file"):  # was FreeType's RuntimeError
        plotting.has_glyphs(not_a_font)
    ax = plotting.heatmap(torch.eye(2, dtype=torch.bfloat16), colorbar=False)
    assert ax.images[0].get_array().shape == (2, 2)
    plt.close("all")
