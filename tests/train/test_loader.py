"""llm/train/loader.py: random windows, the train/val split, left-padded documents, sequential
evaluation batches."""
import numpy as np
import pytest

from llm.train import loader


def test_stream_windows_are_slices_with_targets_shifted_by_one():
    tokens = np.arange(1000, dtype=np.int32) % 97 + np.arange(1000) // 97 * 1000  # id -> position
    position = {int(t): i for i, t in enumerate(tokens)}
    batches = loader.StreamLoader(tokens, block_size=8, batch_size=5, seed=0)
    for _ in range(20):
        batch = batches.next_batch()
        assert batch.idx.shape == batch.targets.shape == (5, 8)
        assert batch.idx.dtype == batch.targets.dtype == np.int32
        assert batch.mask is None and batch.padding_mask is None
        np.testing.assert_array_equal(batch.idx[:, 1:], batch.targets[:, :-1])
        for row_idx, row_targets in zip(batch.idx, batch.targets):
            start = position[int(row_idx[0])]
            np.testing.assert_array_equal(row_idx, tokens[start:start + 8])
            np.testing.assert_array_equal(row_targets, tokens[start + 1:start + 9])


def test_stream_reaches_both_ends_of_the_data():
    tokens = np.arange(12, dtype=np.int32)
    batches = loader.StreamLoader(tokens, block_size=4, batch_size=64, seed=1)
    starts = {int(row[0]) for _ in range(10) for row in batches.next_batch().idx}
    assert starts == set(range(12 - 4))          # nanoGPT: randint(len(data) - block_size)


def test_state_and_reset_replay_the_same_batches():
    tokens = np.arange(500, dtype=np.int32)
    batches = loader.StreamLoader(tokens, 8, 3, seed=[7, 1])
    first = [batches.next_batch().idx for _ in range(3)]
    state = batches.state()
    later = [batches.next_batch().idx for _ in range(3)]
    batches.set_state(state)
    np.testing.assert_array_equal(later, [batches.next_batch().idx for _ in range(3)])
    batches.reset()
    np.testing.assert_array_equal(first, [batches.next_batch().idx for _ in range(3)])
    other_seed = loader.StreamLoader(tokens, 8, 3, seed=[7, 2])
    assert not np.array_equal(first[0], other_seed.next_batch().idx)


def test_documents_are_left_padded_and_never_crossed():
    documents = [np.full(3, 10, np.int32) + np.arange(3), np.full(30, 100, np.int32) + np.arange(30),
                 np.array([7], np.int32)]                        # too short: dropped
    batches = loader.DocumentLoader(documents, block_size=6, batch_size=8, seed=0)
    seen_short = seen_long = False
    for _ in range(30):
        batch = batches.next_batch()
        np.testing.assert_array_equal(batch.mask, batch.padding_mask)
        for idx, targets, real in zip(batch.idx, batch.targets, batch.mask):
            n_real = int(real.sum())
            np.testing.assert_array_equal(real, np.arange(6) >= 6 - n_real)   # padding on the left
            ids, nexts = idx[real == 1], targets[real == 1]
            np.testing.assert_array_equal(nexts, ids + 1)         # targets: the next token
            if ids[0] < 100:                                      # the 3-token document
                assert n_real == 2 and ids.tolist() == [10, 11]
                assert (idx[real == 0] == loader.PAD_ID).all()
                seen_short = True
            else:
                assert n_real == 6 and (ids >= 100).all() and nexts.max() < 130
                seen_long = True
    assert seen_short and seen_long


def test_split_documents_holds_out_the_last():
    documents = [np.arange(i + 2) for i in range(20)]
    train, val = loader.split_documents(documents, 0.1)
    assert len(train) == 18 and len(val) == 2 and val[-1] is documents[-1]
    with pytest.raises(ValueError, match="at least 2 documents"):
        loader.split_documents(documents[:1], 0.1)


def test_sequential_batches_predict_every_token_once():
    tokens = np.arange(1, 48, dtype=np.int32)        # 47 tokens: 46 targets, windows of 4
    predicted = []
    batches = list(loader.sequential_batches(tokens, block_size=4, batch_size=5))
    for batch in batches:
        assert batch.idx.shape == (5, 4)
        predicted += batch.targets[batch.mask == 1].tolist()
        real = batch.mask == 1
        np.testing.assert_array_equal(batch.targets[real], batch.idx[real] + 1)
    assert predicted == list(range(2, 48))
    assert len(batches) == 3                          # ceil(ceil(46 / 4) / 5)


@pytest.mark.parametrize("make, message", [
    (lambda: loader.StreamLoader(np.arange(8), 8, 2, 0), "fewer than block_size"),
    (lambda: loader.StreamLoader(np.arange(100), 0, 2, 0), "block_size=0"),
    (lambda: loader.StreamLoader(np.arange(100), 4, 0, 0), "batch_size=0"),
    (lambda: loader.DocumentLoader([np.arange(1)], 4, 2, 0), "no document of 2 or more"),
    (lambda: loader.split_documents([np.arange(3)] * 4, 1.0), "val_fraction"),
])
def test_bad_input(make, message):
    with pytest.raises(ValueError, match=message):
        make()
