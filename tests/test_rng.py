import random

import numpy as np
import torch

from m3.rng import rng_state, seed_everything, set_rng_state


def draws() -> tuple:
    return random.random(), float(np.random.rand()), float(torch.rand(()))


def test_a_restored_state_repeats_every_stream_and_a_seed_fixes_them():
    seed_everything(3)
    first = draws()
    state = rng_state()
    after = draws()
    set_rng_state(state)
    assert draws() == after != first
    seed_everything(3)
    assert draws() == first
