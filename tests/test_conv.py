"""Fast unit tests of aecourse.conv (NumPy only, no TensorFlow)."""

import itertools

import numpy as np
import pytest

from aecourse import conv


def direct_conv(x, kernel, stride, pads):
    """Cross-correlation by loops, the reference for conv_matrix."""
    (pt, pb), (pl, pr) = pads
    xp = np.pad(x, ((pt, pb), (pl, pr)))
    kh, kw = kernel.shape
    oh = (xp.shape[0] - kh) // stride + 1
    ow = (xp.shape[1] - kw) // stride + 1
    out = np.zeros((oh, ow))
    for r in range(oh):
        for c in range(ow):
            out[r, c] = np.sum(xp[r * stride:r * stride + kh, c * stride:c * stride + kw] * kernel)
    return out


def test_conv_output_size_examples():
    assert conv.conv_output_size(5, 3, 1, 0) == 3
    assert conv.conv_output_size(5, 3, 2, 1) == 3
    assert conv.conv_output_size(28, 3, 2, 1) == 14
    with pytest.raises(ValueError):
        conv.conv_output_size(2, 5, 1, 0)


def test_transpose_size_inverts_conv_size():
    for i, k, s, p in itertools.product(range(3, 12), range(1, 6), range(1, 4), range(0, 3)):
        if i + 2 * p < k:
            continue
        o = conv.conv_output_size(i, k, s, p)
        a = (i + 2 * p - k) % s
        assert conv.conv_transpose_output_size(o, k, s, p, a) == i


def test_keras_sizes():
    assert conv.keras_conv_output_size(28, 3, 2, "same") == 14
    assert conv.keras_conv_output_size(7, 3, 2, "valid") == 3
    assert conv.keras_conv_transpose_output_size(7, 3, 2, "same") == 14
    assert conv.keras_conv_transpose_output_size(7, 3, 2, "valid") == 15
    assert conv.keras_conv_transpose_output_size(7, 3, 2, "same", output_padding=0) == 13
    assert conv.keras_conv_transpose_output_size(3, 1, 3, "valid") == 9  # a = s - k by default
    with pytest.raises(ValueError):
        conv.keras_conv_output_size(5, 3, 1, "full")


def test_same_padding_keeps_ceil_size():
    for i, k, s in itertools.product(range(1, 12), range(1, 6), range(1, 4)):
        before, after = conv.same_padding(i, k, s)
        assert 0 <= after - before <= 1
        assert conv.conv_output_size(i + before + after, k, s, 0) == -(-i // s)


@pytest.mark.parametrize("shape,k,stride,padding", [
    ((4, 4), 3, 1, "valid"), ((5, 5), 3, 2, "same"), ((6, 5), 2, 2, "valid"), ((5, 6), 3, 2, 1),
    ((4, 4), 4, 2, "same"), ((7, 7), 3, 3, ((0, 1), (1, 0)))])
def test_conv_matrix_matches_direct(shape, k, stride, padding):
    rng = np.random.default_rng(0)
    x = rng.normal(size=shape)
    kernel = rng.normal(size=(k, k))
    C, out_shape = conv.conv_matrix(shape, kernel, stride, padding)
    pads = conv._pads(padding, shape, (k, k), (stride, stride))
    expected = direct_conv(x, kernel, stride, pads)
    assert out_shape == expected.shape
    np.testing.assert_allclose((C @ x.ravel()).reshape(out_shape), expected, atol=1e-12)


def test_scatter_add_equals_transpose_of_valid_conv_matrix():
    rng = np.random.default_rng(1)
    for n, k, s in [(2, 3, 2), (2, 3, 1), (3, 2, 2), (3, 4, 2)]:
        y = rng.normal(size=(n, n))
        kernel = rng.normal(size=(k, k))
        full = conv.scatter_add_steps(y, kernel, s)[-1]["total"]
        size = (n - 1) * s + k
        C, out_shape = conv.conv_matrix((size, size), kernel, s, "valid")
        assert out_shape == (n, n)
        np.testing.assert_allclose(full, (C.T @ y.ravel()).reshape(size, size), atol=1e-12)


def test_scatter_add_steps_count_and_stamps():
    steps = conv.scatter_add_steps(np.array([[1.0, 2.0], [3.0, 4.0]]), np.ones((3, 3)), 2)
    assert len(steps) == 4
    assert steps[0]["stamp"].shape == (5, 5)
    np.testing.assert_allclose(sum(s["stamp"] for s in steps), steps[-1]["total"])
    assert steps[-1]["total"][2, 2] == 10.0  # all four stamps overlap in the centre


def test_overlap_counts():
    np.testing.assert_array_equal(conv.overlap_counts(3, 3, 2), [1, 1, 2, 1, 2, 1, 1])
    assert set(conv.overlap_counts(5, 4, 2)[2:-2]) == {2}  # k divisible by s: even coverage


def test_psnr():
    x = np.zeros((2, 4))
    y = np.full((2, 4), 0.1)
    assert conv.psnr(x, y) == pytest.approx(20.0)
    assert conv.psnr(x, x) == np.inf
    per = conv.psnr(x, np.array([[0.1] * 4, [0.01] * 4]), per_image=True)
    np.testing.assert_allclose(per, [20.0, 40.0])
    assert conv.psnr(x * 255, y * 255, data_range=255) == pytest.approx(20.0)
    with pytest.raises(ValueError):
        conv.psnr(x, y[:1])


def test_checkerboard_share():
    checker = np.indices((28, 28)).sum(axis=0) % 2 + 1.0
    assert conv.checkerboard_share(checker[None]) == pytest.approx(1.0)
    smooth = np.outer(np.sin(np.linspace(0, np.pi, 28)), np.sin(np.linspace(0, np.pi, 28)))
    assert conv.checkerboard_share(smooth[None, ..., None]) < 0.05
    with pytest.raises(ValueError):
        conv.checkerboard_share(np.zeros((1, 27, 27)))


def test_figures_draw():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = conv.plot_scatter_add(np.array([[1.0, 2.0], [3.0, 4.0]]), np.ones((3, 3)), 2)
    assert len(fig.axes) == 10
    C, out_shape = conv.conv_matrix((3, 3), np.arange(1, 5).reshape(2, 2), 1)
    fig2 = conv.plot_conv_matrix(C, (3, 3), out_shape)
    fig3 = conv.show_arrays({"a": np.eye(3), "b": np.ones((2, 2))})
    assert len(fig3.axes) == 2
    plt.close("all")


def test_table_pads_its_cells_and_formats():
    pd = pytest.importorskip("pandas")
    html = conv.table(pd.DataFrame({"test MSE": [0.012345]}, index=["conv AE"]), {"test MSE": "{:.4f}"}).to_html()
    assert "0.0123" in html and "padding" in html and "conv AE" in html
    assert "conv AE" not in conv.table(pd.DataFrame({"a": [1]}, index=["conv AE"]), hide_index=True).to_html()
    html = conv.table(pd.DataFrame({0.2: [1.0]}, index=[0.25]), "{:.1f}").to_html()
    assert ">0.25<" in html and ">0.2<" in html and "0.250000" not in html
