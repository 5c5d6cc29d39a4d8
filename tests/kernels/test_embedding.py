"""embedding_forward / embedding_backward against NumPy indexing and np.add.at."""
import numpy as np
import pytest
from llm._ext.embedding import embedding_backward, embedding_forward
from llm._ext.half import to_float, to_half


def random_table(V, C, seed=0):
    return np.random.default_rng(seed).standard_normal((V, C)).astype(np.float32)


@pytest.mark.parametrize("ids_shape, V, C", [((1,), 1, 1), ((7,), 5, 3), ((2, 9), 11, 17),
                                              ((4, 64), 50, 768)])
def test_forward_gathers_rows(ids_shape, V, C):
    table = random_table(V, C)
    ids = np.random.default_rng(1).integers(0, V, ids_shape).astype(np.int32)
    out = np.empty(ids_shape + (C,), np.float32)
    embedding_forward(out, ids, table)
    np.testing.assert_array_equal(out, table[ids])
    flat = np.empty((ids.size, C), np.float32)
    embedding_forward(flat, ids, table)
    np.testing.assert_array_equal(flat, table[ids.reshape(-1)])


@pytest.mark.parametrize("ids_shape, V, C", [((7,), 3, 5), ((3, 50), 20, 100)])
def test_backward_scatter_adds_repeated_ids_and_accumulates(ids_shape, V, C):
    rng = np.random.default_rng(2)
    ids = rng.integers(0, V, ids_shape).astype(np.int32)
    dout = rng.standard_normal(ids_shape + (C,)).astype(np.float32)
    dtable = np.full((V, C), 0.5, np.float32)
    embedding_backward(dtable, dout, ids)
    expected = np.full((V, C), 0.5, np.float64)
    np.add.at(expected, ids.reshape(-1), dout.reshape(-1, C).astype(np.float64))
    # float32 sums of at most a few dozen terms: 1e-5 relative.
    np.testing.assert_allclose(dtable, expected, rtol=1e-5, atol=1e-5)


def test_backward_is_the_gradient_of_forward(numeric_gradient):
    rng = np.random.default_rng(3)
    table = rng.standard_normal((4, 3))
    ids = np.array([2, 0, 2, 3, 2], np.int32)
    weights = rng.standard_normal((5, 3)).astype(np.float32)
    dtable = np.zeros((4, 3), np.float32)
    embedding_backward(dtable, weights, ids)
    expected = numeric_gradient(lambda t: np.sum(t[ids] * weights), table)
    np.testing.assert_allclose(dtable, expected, rtol=1e-6, atol=1e-6)


def test_one_and_two_threads_agree_bit_for_bit(with_threads):
    rng = np.random.default_rng(4)
    ids = rng.integers(0, 30, 600).astype(np.int32)       # many repeats: order matters
    dout = rng.standard_normal((600, 200)).astype(np.float32)
    table = random_table(30, 200)

    def run():
        dtable, out = np.zeros((30, 200), np.float32), np.empty((600, 200), np.float32)
        embedding_backward(dtable, dout, ids)
        embedding_forward(out, ids, table)
        return dtable, out

    for one, two in zip(with_threads(1, run), with_threads(2, run)):
        np.testing.assert_array_equal(one, two)


@pytest.mark.parametrize("bad", [5, -1, 2**31 - 1])
def test_out_of_range_id_names_position_and_value_and_writes_nothing(bad):
    table = random_table(5, 4)
    ids = np.array([[0, 1, 2], [3, bad, 4]], np.int32)
    out = np.full((2, 3, 4), 9.0, np.float32)
    with pytest.raises(ValueError, match=rf"ids\[1, 1\] = {bad} is out of range \[0, 5\)"):
        embedding_forward(out, ids, table)
    assert np.all(out == 9.0)
    dtable = np.zeros_like(table)
    with pytest.raises(ValueError, match=rf"ids\[1, 1\] = {bad}"):
        embedding_backward(dtable, np.ones((6, 4), np.float32), ids)
    assert not dtable.any()


def test_bad_arguments_raise_value_error_naming_them():
    table = random_table(5, 4)
    ids = np.array([1, 2], np.int32)
    out = np.empty((2, 4), np.float32)
    with pytest.raises(ValueError, match="ids must be int32"):
        embedding_forward(out, ids.astype(np.int64), table)
    with pytest.raises(ValueError, match="table must be float32"):
        embedding_forward(out, ids, table.astype(np.float64))
    with pytest.raises(ValueError, match="table must be C-contiguous"):
        embedding_forward(out, ids, random_table(4, 5).T)
    with pytest.raises(ValueError, match="table has shape"):
        embedding_forward(out, ids, table.reshape(-1))
    with pytest.raises(ValueError, match="out has shape"):
        embedding_forward(np.empty((2, 5), np.float32), ids, table)
    with pytest.raises(ValueError, match="dout has shape"):
        embedding_backward(np.zeros_like(table), np.ones((3, 4), np.float32), ids)
    with pytest.raises(ValueError, match="dtable overlaps dout"):
        embedding_backward(table, table[:2], ids)


@pytest.mark.parametrize("kind", ["bf16", "f16"])
@pytest.mark.parametrize("ids_shape, V, C", [((1,), 1, 1), ((2, 9), 11, 17), ((4, 64), 50, 768)])
def test_forward_half_gathers_widened_rows(ids_shape, V, C, kind):
    table = random_table(V, C)
    bits = to_half(np.empty((V, C), np.uint16), table, kind)
    widened = to_float(np.empty((V, C), np.float32), bits, kind)
    ids = np.random.default_rng(1).integers(0, V, ids_shape).astype(np.int32)
    out = np.empty(ids_shape + (C,), np.float32)
    embedding_forward(out, ids, bits, kind)
    np.testing.assert_array_equal(out, widened[ids])


def test_forward_half_bad_arguments_raise_value_error_naming_them():
    bits, ids = np.zeros((5, 3), np.uint16), np.array([0, 4, 5], np.int32)
    out = np.zeros((3, 3), np.float32)
    with pytest.raises(ValueError, match=r"ids\[2\] = 5 is out of range \[0, 5\)"):
        embedding_forward(out, ids, bits, "bf16")
    with pytest.raises(ValueError, match="table must be uint16, got float32"):
        embedding_forward(out, ids[:2], bits.astype(np.float32), "bf16")
    with pytest.raises(ValueError, match="table must be float32, got uint16"):
        embedding_forward(out, ids[:2], bits, "f32")
    with pytest.raises(ValueError, match="kind='fp8': expected 'f32', 'bf16' or 'f16'"):
        embedding_forward(out, ids[:2], bits, "fp8")
