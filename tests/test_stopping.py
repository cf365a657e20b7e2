import os
import signal

import pytest

from m3.stopping import StopFlag, StopRequested


def test_a_signal_while_catching_sets_the_flag_and_the_old_handler_comes_back():
    before = signal.getsignal(signal.SIGTERM)
    flag = StopFlag()
    with flag.catching():
        assert not flag.raised
        os.kill(os.getpid(), signal.SIGTERM)  # delivered before os.kill returns: the process signals itself
        assert flag.raised and flag.signum == signal.SIGTERM
        os.kill(os.getpid(), signal.SIGINT)  # the last one is reported
        assert flag.signum == signal.SIGINT
    assert signal.getsignal(signal.SIGTERM) is before


def test_stop_requested_names_the_signal_and_the_epoch():
    with pytest.raises(StopRequested, match="stopped by SIGTERM in epoch 7; a checkpoint was written"):
        raise StopRequested(signal.SIGTERM, 7)
