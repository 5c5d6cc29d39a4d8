"""crossentropy_forward_backward against a float64 NumPy reference, finite differences and
(when installed) torch.nn.functional.cross_entropy."""
import numpy as np
import pytest

from llm._ext.crossentropy import crossentropy_forward_backward

IGNORE = -1


def crossentropy_reference(logits, targets, ignore_index=IGNORE, label_smoothing=0.0):
    """(mean loss, per-position losses) in float64."""
    x = np.asarray(logits, dtype=np.float64).reshape(-1, logits.shape[-1])
    targets = targets.reshape(-1)
    V = x.shape[1]
    shifted = x - x.max(axis=1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    counted = targets != ignore_index
    q = np.full_like(x, label_smoothing / V)
    q[np.flatnonzero(counted), targets[counted]] += 1.0 - label_smoothing
    losses = np.where(counted, -(q * log_p).sum(axis=1), 0.0)
    return (losses.sum() / counted.sum() if counted.any() else 0.0), losses


def random_case(N, V, seed=0, scale=3.0, n_ignored=0):
    rng = np.random.default_rng(seed)
    logits = (rng.standard_normal((N, V)) * scale).astype(np.float32)
    targets = rng.integers(0, V, N).astype(np.int32)
    targets[rng.permutation(N)[:n_ignored]] = IGNORE
    return logits, targets


@pytest.mark.parametrize("N, V, n_ignored, smoothing", [
    (1, 1, 0, 0.0), (3, 7, 1, 0.0), (5, 65, 2, 0.1), (4, 50257, 1, 0.0), (2, 50257, 0, 0.2)])
def test_loss_matches_float64_reference(N, V, n_ignored, smoothing):
    logits, targets = random_case(N, V, n_ignored=n_ignored)
    losses = np.empty(N, np.float32)
    loss = crossentropy_forward_backward(None, logits, targets, label_smoothing=smoothing,
                                         losses=losses)
    expected, expected_losses = crossentropy_reference(logits, targets,
                                                       label_smoothing=smoothing)
    # log-sum-exp in double from float32 logits: each loss within float32 rounding (1e-6 rel).
    assert loss == pytest.approx(expected, rel=1e-6, abs=1e-6)
    np.testing.assert_allclose(losses, expected_losses, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("smoothing", [0.0, 0.3])
def test_gradient_matches_finite_differences(smoothing, numeric_gradient):
    logits, targets = random_case(4, 6, seed=1, n_ignored=1)
    dlogits = np.full_like(logits, np.nan)       # written, not accumulated
    crossentropy_forward_backward(dlogits, logits, targets, label_smoothing=smoothing)
    expected = numeric_gradient(
        lambda x: crossentropy_reference(x, targets, label_smoothing=smoothing)[0], logits)
    # Gradients are (p - q) / count with p in float32: 1e-7 absolute, ignored rows exactly 0.
    np.testing.assert_allclose(dlogits, expected, rtol=1e-5, atol=1e-7)
    assert np.all(dlogits[targets == IGNORE] == 0)


def test_in_place_gradient_equals_separate_gradient_and_loss_only_run():
    logits, targets = random_case(7, 301, seed=2, n_ignored=2)
    dlogits = np.empty_like(logits)
    loss = crossentropy_forward_backward(dlogits, logits, targets, label_smoothing=0.1)
    in_place = logits.copy()
    assert crossentropy_forward_backward(in_place, in_place, targets, label_smoothing=0.1) == loss
    np.testing.assert_array_equal(in_place, dlogits)
    assert crossentropy_forward_backward(None, logits, targets, label_smoothing=0.1) == loss


def test_every_position_ignored_gives_zero_loss_and_gradient():
    logits, _ = random_case(3, 5)
    targets = np.full(3, 99, np.int32)
    dlogits = np.full_like(logits, np.nan)
    losses = np.full(3, np.nan, np.float32)
    assert crossentropy_forward_backward(dlogits, logits, targets, ignore_index=99,
                                         losses=losses) == 0.0
    assert not dlogits.any() and not losses.any()


def test_huge_logits_stay_finite():
    logits = np.array([[1e4, -1e4, 0.0], [-3e4, 3e4, 3e4]], np.float32)
    targets = np.array([1, 2], np.int32)
    dlogits = np.empty_like(logits)
    loss = crossentropy_forward_backward(dlogits, logits, targets)
    assert loss == pytest.approx((2e4 + np.log(2)) / 2, rel=1e-6)
    np.testing.assert_allclose(dlogits, [[0.5, -0.5, 0], [0, 0.25, -0.25]], atol=1e-7)


@pytest.mark.parametrize("smoothing, ignore_index", [(0.0, -100), (0.1, 3)])
def test_matches_torch_on_batch_time_logits(smoothing, ignore_index):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    logits = (rng.standard_normal((2, 5, 65)) * 2).astype(np.float32)
    targets = rng.integers(0, 65, (2, 5)).astype(np.int32)
    targets[0, 1] = ignore_index
    dlogits = np.empty_like(logits)
    losses = np.empty((2, 5), np.float32)
    loss = crossentropy_forward_backward(dlogits, logits, targets, ignore_index=ignore_index,
                                         label_smoothing=smoothing, losses=losses)
    torch_logits = torch.tensor(logits, requires_grad=True)
    torch_loss = torch.nn.functional.cross_entropy(
        torch_logits.view(-1, 65), torch.tensor(targets).long().view(-1),
        ignore_index=ignore_index, label_smoothing=smoothing)
    torch_loss.backward()
    assert loss == pytest.approx(torch_loss.item(), rel=1e-6)
    np.testing.assert_allclose(dlogits, torch_logits.grad.numpy(), rtol=1e-5, atol=1e-8)
    assert losses[0, 1] == 0


def test_one_and_two_threads_agree_bit_for_bit(with_threads):
    logits, targets = random_case(64, 1000, seed=4, n_ignored=5)

    def run():
        dlogits, losses = np.empty_like(logits), np.empty(64, np.float32)
        loss = crossentropy_forward_backward(dlogits, logits, targets, label_smoothing=0.1,
                                             losses=losses)
        return loss, dlogits, losses

    one, two = with_threads(1, run), with_threads(2, run)
    assert one[0] == two[0]
    np.testing.assert_array_equal(one[1], two[1])
    np.testing.assert_array_equal(one[2], two[2])


def test_out_of_range_target_names_its_position_and_writes_nothing():
    logits, targets = random_case(2 * 3, 5)
    logits, targets = logits.reshape(2, 3, 5), targets.reshape(2, 3)
    targets[1, 2] = 5
    dlogits = np.full_like(logits, 7.0)
    with pytest.raises(ValueError, match=r"targets\[1, 2\] = 5 is out of range \[0, 5\)"):
        crossentropy_forward_backward(dlogits, logits, targets)
    assert np.all(dlogits == 7.0)
    targets[1, 2] = -1
    targets[0, 0] = -3
    with pytest.raises(ValueError, match=r"targets\[0, 0\] = -3 .* ignore_index=-1"):
        crossentropy_forward_backward(None, logits, targets)


def test_bad_arguments_raise_value_error_naming_them():
    logits, targets = random_case(4, 6)
    with pytest.raises(ValueError, match="logits must be float32"):
        crossentropy_forward_backward(None, logits.astype(np.float64), targets)
    with pytest.raises(ValueError, match="logits must be C-contiguous"):
        crossentropy_forward_backward(None, np.asfortranarray(logits), targets)
    with pytest.raises(ValueError, match="targets must be int32"):
        crossentropy_forward_backward(None, logits, targets.astype(np.int64))
    with pytest.raises(ValueError, match="targets has shape"):
        crossentropy_forward_backward(None, logits, targets[:3])
    with pytest.raises(ValueError, match="dlogits has shape"):
        crossentropy_forward_backward(logits[:2].copy(), logits, targets)
    with pytest.raises(ValueError, match="losses has shape"):
        crossentropy_forward_backward(None, logits, targets, losses=np.empty(5, np.float32))
    with pytest.raises(ValueError, match="label_smoothing=1.5"):
        crossentropy_forward_backward(None, logits, targets, label_smoothing=1.5)
    with pytest.raises(ValueError, match="V >= 1"):
        crossentropy_forward_backward(None, np.empty((4, 0), np.float32), targets)
    buffer = np.zeros(30, np.float32)
    with pytest.raises(ValueError, match="dlogits overlaps logits"):
        crossentropy_forward_backward(buffer[1:25].reshape(4, 6), buffer[:24].reshape(4, 6),
                                      targets)


def test_mean_count_divides_instead_of_the_counted_positions():
    """A data-parallel rank's share: its loss and gradient divided by the global batch's count
    (here 7), so that the shares of the ranks sum to the global mean; none counted gives 0."""
    logits, targets = random_case(4, 6)
    targets[1] = -1
    dlogits, shared = np.empty_like(logits), np.empty_like(logits)
    loss = crossentropy_forward_backward(dlogits, logits, targets, label_smoothing=0.1)
    share = crossentropy_forward_backward(shared, logits, targets, label_smoothing=0.1,
                                          mean_count=7)
    assert share == pytest.approx(loss * 3 / 7, rel=1e-6)
    np.testing.assert_allclose(shared, dlogits * 3 / 7, rtol=1e-5, atol=1e-8)
    assert crossentropy_forward_backward(shared, logits, np.full(4, -1, np.int32),
                                         mean_count=7) == 0.0
    assert not shared.any()
    for bad in (0, -3, 2.5, True):
        with pytest.raises(ValueError, match="mean_count"):
            crossentropy_forward_backward(None, logits, targets, mean_count=bad)
