"""attention_forward / attention_backward / attention_forward_cached against an explicit float64
NumPy (B, H, T, T) implementation, finite differences, and the thread-count and cache contracts."""
import numpy as np
import pytest

from llm._ext.attention import attention_backward, attention_forward, attention_forward_cached

# float32 tiles vs the exact float64 result, O(1) values: 2e-6 absolute for outputs and stats,
# 1e-5 for gradients (sums over up to T keys and hs channels).
OUT_ATOL, GRAD_ATOL = 2e-6, 1e-5


def split_heads(x, n_head):
    B, T, C = x.shape
    return x.reshape(B, T, n_head, C // n_head).transpose(0, 2, 1, 3)


def merge_heads(x):
    B, H, T, hs = x.shape
    return x.transpose(0, 2, 1, 3).reshape(B, T, H * hs)


def reference_probabilities(qkv, n_head, key_mask):
    """P (B, H, T, T), q, k, v (B, H, T, hs) in float64, and the log-sum-exp (B, H, T)."""
    C = qkv.shape[2] // 3
    q, k, v = (split_heads(qkv[..., i * C:(i + 1) * C].astype(np.float64), n_head)
               for i in range(3))
    T, hs = q.shape[2], q.shape[3]
    visible = np.tril(np.ones((T, T), bool))[None, None]
    if key_mask is not None:
        visible = visible & key_mask.astype(bool)[:, None, None, :]
    scores = np.where(visible, q @ k.transpose(0, 1, 3, 2) / np.sqrt(hs), -np.inf)
    row_max = scores.max(axis=-1, keepdims=True)
    row_max[~np.isfinite(row_max)] = 0.0
    weights = np.exp(scores - row_max)
    total = weights.sum(axis=-1, keepdims=True)
    p = np.divide(weights, total, out=np.zeros_like(weights), where=total > 0)
    with np.errstate(divide="ignore"):
        lse = np.where(total[..., 0] > 0, np.log(total[..., 0]) + row_max[..., 0], np.inf)
    return p, q, k, v, lse


def reference_forward(qkv, n_head, key_mask=None):
    p, q, k, v, lse = reference_probabilities(qkv, n_head, key_mask)
    return merge_heads(p @ v), lse


def reference_backward(qkv, dout, n_head, key_mask=None):
    p, q, k, v, _ = reference_probabilities(qkv, n_head, key_mask)
    hs = q.shape[3]
    dout = split_heads(dout.astype(np.float64), n_head)
    dv = p.transpose(0, 1, 3, 2) @ dout
    dp = dout @ v.transpose(0, 1, 3, 2)
    ds = p * (dp - (dp * p).sum(axis=-1, keepdims=True))
    dq = ds @ k / np.sqrt(hs)
    dk = ds.transpose(0, 1, 3, 2) @ q / np.sqrt(hs)
    return np.concatenate([merge_heads(dq), merge_heads(dk), merge_heads(dv)], axis=-1)


def left_padding_mask(B, T, rng):
    """(B, T) uint8 with random left padding; row 0 unpadded, row 1 fully padded (when B > 1)."""
    pads = rng.integers(0, T + 1, size=B)
    pads[0] = 0
    if B > 1:
        pads[1] = T
    return (np.arange(T)[None, :] >= pads[:, None]).astype(np.uint8)


def run_forward(qkv, n_head, key_mask=None):
    B, T, C3 = qkv.shape
    out = np.full((B, T, C3 // 3), np.nan, np.float32)
    stats = np.full((B, n_head, T), np.nan, np.float32)
    attention_forward(out, stats, qkv, n_head, key_mask)
    return out, stats


def random_case(B, T, C, seed=0, scale=1.0):
    rng = np.random.default_rng(seed)
    qkv = (rng.standard_normal((B, T, 3 * C)) * scale).astype(np.float32)
    dout = rng.standard_normal((B, T, C)).astype(np.float32)
    return rng, qkv, dout


SHAPES = [(2, 1, 8, 2), (3, 5, 12, 3), (2, 33, 64, 4), (3, 70, 48, 1), (2, 70, 96, 6),
          (1, 40, 40, 5), (1, 37, 256, 1)]
# (B, T, C, n_head): odd T, tile remainders, hs 4 .. 48 (whole vectors of 8 or not), the largest
# head size (256, the most stack).


@pytest.mark.parametrize("B,T,C,n_head", SHAPES)
@pytest.mark.parametrize("masked", [False, True])
def test_forward_matches_reference(B, T, C, n_head, masked, simd_level):
    rng, qkv, _ = random_case(B, T, C)
    key_mask = left_padding_mask(B, T, rng) if masked else None
    out, stats = run_forward(qkv, n_head, key_mask)
    expected_out, expected_lse = reference_forward(qkv, n_head, key_mask)
    np.testing.assert_allclose(out, expected_out, rtol=0, atol=OUT_ATOL)
    assert np.array_equal(np.isinf(stats), np.isinf(expected_lse))
    finite = np.isfinite(expected_lse)
    np.testing.assert_allclose(stats[finite], expected_lse[finite], rtol=0, atol=OUT_ATOL)


@pytest.mark.parametrize("B,T,C,n_head", SHAPES)
@pytest.mark.parametrize("masked", [False, True])
def test_backward_matches_reference_and_writes_every_element(B, T, C, n_head, masked,
                                                              simd_level):
    rng, qkv, dout = random_case(B, T, C, seed=1)
    key_mask = left_padding_mask(B, T, rng) if masked else None
    out, stats = run_forward(qkv, n_head, key_mask)
    dqkv = np.full_like(qkv, np.nan)     # old contents are never read
    attention_backward(dqkv, dout, qkv, out, stats, n_head, key_mask)
    np.testing.assert_allclose(dqkv, reference_backward(qkv, dout, n_head, key_mask),
                               rtol=0, atol=GRAD_ATOL)


def test_fully_padded_rows_give_zeros_never_nan(simd_level):
    rng, qkv, dout = random_case(3, 37, 16, seed=2)
    key_mask = np.ones((3, 37), np.uint8)
    key_mask[0] = 0            # a sequence of padding only
    key_mask[1, :20] = 0       # left padding: queries 0..19 see no key
    out, stats = run_forward(qkv, 2, key_mask)
    dqkv = np.full_like(qkv, np.nan)
    attention_backward(dqkv, dout, qkv, out, stats, 2, key_mask)
    assert not np.isnan(out).any() and not np.isnan(dqkv).any()
    assert not out[0].any() and not out[1, :20].any()
    assert np.all(stats[0] == np.inf) and np.all(stats[1, :, :20] == np.inf)
    assert np.all(np.isfinite(stats[1, :, 20:])) and np.all(np.isfinite(stats[2]))
    assert not dqkv[0].any()
    # Padding positions are neither queries that see anything nor keys anyone sees: zero gradient.
    assert not dqkv[1, :20].any()
    # The real tokens of row 1 see exactly the unpadded sequence of length 17.
    alone, _ = run_forward(np.ascontiguousarray(qkv[1:2, 20:]), 2)
    np.testing.assert_allclose(out[1:2, 20:], alone, rtol=0, atol=1e-6)


def test_bool_mask_equals_uint8_mask():
    rng, qkv, _ = random_case(3, 9, 8, seed=3)
    key_mask = left_padding_mask(3, 9, rng)
    assert np.array_equal(run_forward(qkv, 2, key_mask)[0],
                          run_forward(qkv, 2, key_mask.astype(bool))[0])


def test_large_scores_stay_finite_and_accurate():
    # Scores of order 1e3: a naive exp would overflow; the online softmax must not.
    _, qkv, dout = random_case(2, 45, 16, seed=4, scale=30.0)
    out, stats = run_forward(qkv, 2)
    expected_out, _ = reference_forward(qkv, 2)
    assert np.all(np.isfinite(out)) and np.all(np.isfinite(stats))
    np.testing.assert_allclose(out, expected_out, rtol=0, atol=1e-4 * np.abs(expected_out).max())


def test_backward_matches_finite_differences(numeric_gradient, simd_level):
    rng, qkv, dout = random_case(2, 6, 8, seed=5)
    key_mask = np.array([[0, 0, 1, 1, 1, 1], [1, 1, 1, 1, 1, 1]], np.uint8)
    out, stats = run_forward(qkv, 2, key_mask)
    dqkv = np.zeros_like(qkv)
    attention_backward(dqkv, dout, qkv, out, stats, 2, key_mask)

    def loss(x):
        return np.sum(reference_forward(x, 2, key_mask)[0] * dout)

    np.testing.assert_allclose(dqkv, numeric_gradient(loss, qkv), rtol=0, atol=GRAD_ATOL)


def cache_holding(qkv, n_head, length, capacity):
    """k_cache, v_cache (B, n_head, capacity, hs) with the keys and values of qkv's first length
    positions and NaN elsewhere (a kernel that read a row it should not would spread NaN)."""
    B, _, C3 = qkv.shape
    C = C3 // 3
    k_cache = np.full((B, n_head, capacity, C // n_head), np.nan, np.float32)
    v_cache = np.full((B, n_head, capacity, C // n_head), np.nan, np.float32)
    k_cache[:, :, :length] = split_heads(qkv[:, :length, C:2 * C], n_head)
    v_cache[:, :, :length] = split_heads(qkv[:, :length, 2 * C:], n_head)
    return k_cache, v_cache


@pytest.mark.parametrize("Tq", [1, 3, 40])
@pytest.mark.parametrize("masked", [False, True])
@pytest.mark.parametrize("n_head", [3, 2])   # head sizes 8 (rows read in place) and 12 (copied)
def test_cached_forward_appends_and_equals_the_reference(Tq, masked, n_head, simd_level):
    B, Tk, C, capacity = 3, 40, 24, 64
    rng, qkv, _ = random_case(B, Tk, C, seed=6)
    key_mask = left_padding_mask(B, Tk, rng) if masked else None
    expected, _ = reference_forward(qkv, n_head, key_mask)
    k_cache, v_cache = cache_holding(qkv, n_head, Tk - Tq, capacity)
    cache_mask = None
    if masked:     # the model's layout: a (B, capacity) mask, read up to Tk
        cache_mask = np.zeros((B, capacity), np.uint8)
        cache_mask[:, :Tk] = key_mask
    out = np.full((B, Tq, C), np.nan, np.float32)
    attention_forward_cached(out, k_cache, v_cache, np.ascontiguousarray(qkv[:, Tk - Tq:]),
                             n_head, Tk, cache_mask)
    np.testing.assert_allclose(out, expected[:, Tk - Tq:], rtol=0, atol=OUT_ATOL)
    full_keys, full_values = cache_holding(qkv, n_head, Tk, capacity)
    np.testing.assert_array_equal(k_cache, full_keys)   # positions Tk-Tq..Tk-1 appended
    np.testing.assert_array_equal(v_cache, full_values)


def test_cached_steps_of_one_position_equal_the_reference(simd_level):
    # A prefill of 5 positions, then one position per call (decoding), head size 32.
    B, T, C, n_head, prefill = 2, 45, 64, 2, 5
    _, qkv, _ = random_case(B, T, C, seed=8)
    expected, _ = reference_forward(qkv, n_head)
    k_cache, v_cache = cache_holding(qkv, n_head, 0, T)
    out = np.empty((B, prefill, C), np.float32)
    attention_forward_cached(out, k_cache, v_cache, qkv[:, :prefill].copy(), n_head, prefill)
    np.testing.assert_allclose(out, expected[:, :prefill], rtol=0, atol=OUT_ATOL)
    step = np.empty((B, 1, C), np.float32)
    for t in range(prefill, T):
        attention_forward_cached(step, k_cache, v_cache, qkv[:, t:t + 1].copy(), n_head, t + 1)
        np.testing.assert_allclose(step[:, 0], expected[:, t], rtol=0, atol=OUT_ATOL)


def test_one_and_two_threads_agree(with_threads):
    # Each output and gradient slice is computed by one task in a fixed order: bit-identical.
    rng, qkv, dout = random_case(4, 70, 64, seed=7)
    key_mask = left_padding_mask(4, 70, rng)

    def forward_backward():
        out, stats = run_forward(qkv, 4, key_mask)
        dqkv = np.zeros_like(qkv)
        attention_backward(dqkv, dout, qkv, out, stats, 4, key_mask)
        cached = np.empty((4, 70, 64), np.float32)
        k_cache, v_cache = cache_holding(qkv, 4, 0, 70)
        attention_forward_cached(cached, k_cache, v_cache, qkv, 4, 70, key_mask)
        return out, stats, dqkv, cached

    for one, two in zip(with_threads(1, forward_backward), with_threads(2, forward_backward)):
        assert np.array_equal(one, two)


def test_empty_batch_is_a_no_op():
    out, stats = run_forward(np.zeros((0, 5, 12), np.float32), 2)
    assert out.shape == (0, 5, 4) and stats.shape == (0, 2, 5)


def good_arguments():
    qkv = np.zeros((2, 5, 12), np.float32)
    out = np.zeros((2, 5, 4), np.float32)
    stats = np.zeros((2, 2, 5), np.float32)
    return qkv, out, stats


@pytest.mark.parametrize("change,name", [
    (lambda a: a.update(qkv=a["qkv"].astype(np.float64)), "qkv"),
    (lambda a: a.update(qkv=np.zeros((2, 5, 24), np.float32)[..., ::2]), "qkv"),
    (lambda a: a.update(qkv=np.zeros((2, 5, 13), np.float32)), "qkv"),
    (lambda a: a.update(qkv=np.zeros((10, 12), np.float32)), "qkv"),
    (lambda a: a.update(qkv=[[[0.0] * 12] * 5] * 2), "qkv"),
    (lambda a: a.update(out=np.zeros((2, 5, 5), np.float32)), "out"),
    (lambda a: a.update(out=np.zeros((2, 5, 4), np.float64)), "out"),
    (lambda a: a.update(stats=np.zeros((2, 3, 5), np.float32)), "stats"),
    (lambda a: a.update(n_head=3), "n_head"),
    (lambda a: a.update(n_head=0), "n_head"),
    (lambda a: a.update(key_mask=np.ones((2, 4), np.uint8)), "key_mask"),
    (lambda a: a.update(key_mask=np.ones((2, 5), np.int32)), "key_mask"),
    (lambda a: a.update(key_mask=np.ones((5, 2), np.uint8).T), "key_mask"),
])
def test_forward_rejects_bad_arguments_naming_them(change, name):
    qkv, out, stats = good_arguments()
    args = dict(out=out, stats=stats, qkv=qkv, n_head=2, key_mask=None)
    change(args)
    with pytest.raises(ValueError, match=name):
        attention_forward(args["out"], args["stats"], args["qkv"], args["n_head"], args["key_mask"])


def test_read_only_output_and_huge_heads_are_rejected():
    qkv, out, stats = good_arguments()
    out.flags.writeable = False
    with pytest.raises(ValueError, match="out"):
        attention_forward(out, stats, qkv, 2)
    wide = np.zeros((1, 2, 3 * 514), np.float32)
    with pytest.raises(ValueError, match="n_head=2: head size C // n_head = 257 exceeds 256"):
        attention_forward(np.zeros((1, 2, 514), np.float32), np.zeros((1, 2, 2), np.float32),
                          wide, 2)


@pytest.mark.parametrize("name", ["dqkv", "dout", "out", "stats"])
def test_backward_rejects_bad_arguments_naming_them(name):
    qkv, out, stats = good_arguments()
    args = dict(dqkv=np.zeros_like(qkv), dout=np.zeros_like(out), out=out, stats=stats)
    args[name] = args[name][..., :3]      # wrong shape, and not contiguous
    with pytest.raises(ValueError, match=name):
        attention_backward(args["dqkv"], args["dout"], qkv, args["out"], args["stats"], 2)
    with pytest.raises(ValueError, match="dqkv overlaps"):
        attention_backward(qkv, out, qkv, out, stats, 2)


def test_cached_rejects_bad_arguments_naming_them():
    qkv = np.zeros((2, 1, 36), np.float32)         # C = 12, 2 heads of 6
    k_cache = np.zeros((2, 2, 6, 6), np.float32)
    v_cache = np.zeros((2, 2, 6, 6), np.float32)
    out = np.zeros((2, 1, 12), np.float32)
    with pytest.raises(ValueError, match=r"k_cache has shape \(2, 6, 12\); expected "
                                         r"\(2, 2, \*, 6\)"):
        attention_forward_cached(out, np.zeros((2, 6, 12), np.float32), v_cache, qkv, 2, 3)
    with pytest.raises(ValueError, match=r"v_cache has shape \(2, 2, 5, 6\); expected "
                                         r"\(2, 2, 6, 6\)"):
        attention_forward_cached(out, k_cache, np.zeros((2, 2, 5, 6), np.float32), qkv, 2, 3)
    with pytest.raises(ValueError, match="v_cache must be C-contiguous"):
        transposed = np.zeros((2, 2, 6, 6), np.float32).transpose(0, 1, 3, 2)
        attention_forward_cached(out, k_cache, transposed, qkv, 2, 3)
    with pytest.raises(ValueError, match="length=7: .* capacity of 6"):
        attention_forward_cached(out, k_cache, v_cache, qkv, 2, 7)
    with pytest.raises(ValueError, match="length=0: .* 1 position"):
        attention_forward_cached(out, k_cache, v_cache, qkv, 2, 0)
    with pytest.raises(ValueError, match="key_mask"):
        attention_forward_cached(out, k_cache, v_cache, qkv, 2, 3, np.ones((2, 3), np.uint8))
    with pytest.raises(ValueError, match="out"):
        attention_forward_cached(out.astype(np.float64), k_cache, v_cache, qkv, 2, 3)
    with pytest.raises(ValueError, match="n_head"):
        attention_forward_cached(out, k_cache, v_cache, qkv, 5, 3)
    with pytest.raises(ValueError, match="k_cache overlaps v_cache"):
        attention_forward_cached(out, k_cache, k_cache, qkv, 2, 3)
    k_cache.flags.writeable = False
    with pytest.raises(ValueError, match="k_cache is read-only"):
        attention_forward_cached(out, k_cache, v_cache, qkv, 2, 3)

