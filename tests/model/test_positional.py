"""Sinusoidal table and left-padding position ids."""
import numpy as np

from llm.model.positional import position_ids, sinusoidal_table


def test_sinusoidal_table_matches_the_formula():
    table = sinusoidal_table(50, 16)
    p, i = 37, 3
    angle = p / 10000 ** (2 * i / 16)
    assert table.dtype == np.float32 and table.shape == (50, 16)
    np.testing.assert_allclose(table[p, 2 * i], np.sin(angle), rtol=1e-6)
    np.testing.assert_allclose(table[p, 2 * i + 1], np.cos(angle), rtol=1e-6)


def test_positions_count_from_the_first_real_token_of_each_row():
    mask = np.array([[1, 1, 1, 1], [0, 0, 1, 1], [0, 0, 0, 0]])
    np.testing.assert_array_equal(position_ids(3, 4, mask),
                                  [[0, 1, 2, 3], [0, 0, 0, 1], [0, 0, 0, 0]])
    np.testing.assert_array_equal(position_ids(2, 3), [[0, 1, 2], [0, 1, 2]])
