"""segedu.nn.distinct_pairs against torch.unique of rows, the reference it replaces for speed."""

from __future__ import annotations

import pytest
import torch

from segedu.nn import distinct_pairs


@pytest.mark.parametrize("seed", range(6))
def test_same_pairs_and_inverse_as_unique_of_rows(seed):
    generator = torch.Generator().manual_seed(seed)
    n = int(torch.randint(1, 3000, (1,), generator=generator))
    low, high = [(-5, 5), (0, 3), (0, 1000), (-10**6, 10**6), (7, 8), (0, 200)][seed]
    first = torch.randint(low, high, (n,), generator=generator)
    second = torch.randint(0, 40, (n,), generator=generator) * (seed - 2)  # negatives too
    pairs, inverse = distinct_pairs(first, second, return_inverse=True)
    reference, reference_inverse = torch.stack([first, second], 1).unique(dim=0,
                                                                          return_inverse=True)
    assert torch.equal(pairs, reference) and torch.equal(inverse, reference_inverse)
    assert torch.equal(distinct_pairs(first, second), reference)


def test_keys_that_would_overflow_int64_fall_back_to_sorting_rows():
    first = torch.tensor([2**40, -(2**40), 0, 2**40])
    second = torch.tensor([2**30, 5, -(2**30), 2**30])
    pairs, inverse = distinct_pairs(first, second, return_inverse=True)
    reference, reference_inverse = torch.stack([first, second], 1).unique(dim=0,
                                                                          return_inverse=True)
    assert torch.equal(pairs, reference) and torch.equal(inverse, reference_inverse)


def test_empty_and_mismatched_inputs():
    pairs, inverse = distinct_pairs(torch.zeros(0, dtype=torch.long),
                                    torch.zeros(0, dtype=torch.long), return_inverse=True)
    assert pairs.shape == (0, 2) and inverse.shape == (0,)
    with pytest.raises(ValueError, match="one length"):
        distinct_pairs(torch.zeros(3, dtype=torch.long), torch.zeros(2, dtype=torch.long))
