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
