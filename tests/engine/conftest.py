import pytest
import torch


@pytest.fixture(autouse=True, scope="package")
def _one_cpu_thread():
    """Tiny tensors on a shared 2-core machine: one intra-op thread is 10-30x faster than two,
    which spin and wait on each other."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
