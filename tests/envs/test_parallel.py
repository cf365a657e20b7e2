"""Parallel test envs (design §8.4): same episodes as in-process envs, auto-reset, left-out envs, and clear,
prompt errors when a worker dies, hangs or raises."""

import multiprocessing as mp
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from m3.envs import EnvConfig, make_env
from m3.envs.parallel import EnvWorkerError, ParallelEnvs

CARTPOLE = EnvConfig("CartPole-v1")
SEEDS = [3, 4, 5]


def in_process_rollout(seeds, reset_seeds, actions):
    """The reference: plain envs, stepped one by one, reset (unseeded) right after an episode ends."""
    envs = [make_env("cartpole", CARTPOLE, "test", s) for s in seeds]
    obs = [env.reset(seed=s)[0]["vector"] for env, s in zip(envs, reset_seeds)]
    steps = []
    for row in actions:
        out = []
        for i, env in enumerate(envs):
            o, r, term, trunc, _ = env.step(int(row[i]))
            final = o["vector"] if term or trunc else None
            if term or trunc:
                o, _ = env.reset()
            out.append((o["vector"], r, term, trunc, final))
        steps.append(out)
    return obs, steps


def test_workers_give_the_same_episodes_as_in_process_envs():
    actions = np.random.default_rng(0).integers(2, size=(120, len(SEEDS)))  # several CartPole episodes per env
    ref_obs, ref_steps = in_process_rollout(SEEDS, [10, 11, 12], actions)
    with ParallelEnvs("cartpole", CARTPOLE, SEEDS) as envs:
        obs, _ = envs.reset([10, 11, 12])
        np.testing.assert_array_equal(obs["vector"], np.stack(ref_obs))
        ends = 0
        for row, ref in zip(actions, ref_steps):
            obs, rewards, terminated, truncated, infos = envs.step(row)
            for i, (o, r, term, trunc, final) in enumerate(ref):
                np.testing.assert_array_equal(obs["vector"][i], o)
                assert (rewards[i], terminated[i], truncated[i]) == (r, term, trunc)
                if final is not None:
                    np.testing.assert_array_equal(infos[i]["final_obs"]["vector"], final)
                    ends += 1
                else:
                    assert "final_obs" not in infos[i]
        assert ends >= 2 * len(SEEDS)


def test_left_out_envs_are_not_stepped():
    with ParallelEnvs("cartpole", CARTPOLE, [0, 1]) as envs:
        first, _ = envs.reset([7, 8])
        obs, rewards, terminated, truncated, infos = envs.step(np.array([1, 1]), active=np.array([True, False]))
        assert not np.array_equal(obs["vector"][0], first["vector"][0])
        np.testing.assert_array_equal(obs["vector"][1], first["vector"][1])
        assert rewards.tolist() == [1.0, 0.0] and infos[1] == {}
        obs, *_ = envs.step(np.array([1, 0]))  # env 1 now takes its first step
    ref = make_env("cartpole", CARTPOLE, "test", 1)
    ref.reset(seed=8)
    np.testing.assert_array_equal(obs["vector"][1], ref.step(0)[0]["vector"])


def started(seeds, **kwargs) -> tuple[ParallelEnvs, list[int]]:
    """CartPole envs on `seeds` and their workers' pids in worker order, from multiprocessing's own record of this
    process's children."""
    before = set(mp.active_children())
    envs = ParallelEnvs("cartpole", CARTPOLE, seeds, **kwargs)
    workers = sorted(set(mp.active_children()) - before, key=lambda p: int(p.name.rsplit("-", 1)[1]))
    assert len(workers) == len(seeds)
    return envs, [p.pid for p in workers]


def test_a_killed_worker_raises_a_clear_error_at_once():
    envs, pids = started(SEEDS)
    envs.reset()
    os.kill(pids[1], signal.SIGKILL)
    start = time.time()
    with pytest.raises(EnvWorkerError, match=r"env worker 1 of 3 .*exit code -9 \(killed by SIGKILL\)"):
        for _ in range(3):
            envs.step(np.zeros(3, dtype=np.int64))
    assert time.time() - start < 10
    assert all(not os.path.exists(f"/proc/{pid}") or _zombie(pid) for pid in pids)  # the others were closed


def test_a_hung_worker_times_out():
    envs, pids = started([0, 1], timeout=1.0)
    envs.reset()
    os.kill(pids[0], signal.SIGSTOP)
    start = time.time()
    with pytest.raises(EnvWorkerError, match=r"env worker 0 of 2 .*did not answer 'step' within 1 s"):
        envs.step(np.zeros(2, dtype=np.int64))
    assert time.time() - start < 15


def test_an_env_error_names_the_worker_and_keeps_the_traceback():
    with ParallelEnvs("cartpole", CARTPOLE, [0, 1]) as envs:
        envs.reset()
        with pytest.raises(EnvWorkerError, match=r"(?s)env worker 0 of 2 .*raised during 'step'.*Traceback"):
            envs.step(np.array([7, 0]))  # CartPole accepts 0 or 1


def test_workers_exit_when_their_parent_is_killed(tmp_path):
    script = textwrap.dedent("""
        import multiprocessing, time
        from m3.envs import EnvConfig
        from m3.envs.parallel import ParallelEnvs
        if __name__ == "__main__":
            envs = ParallelEnvs("cartpole", EnvConfig("CartPole-v1"), [0, 1])
            print(*[p.pid for p in multiprocessing.active_children()], flush=True)
            time.sleep(600)
    """)
    (tmp_path / "parent.py").write_text(script)
    parent = subprocess.Popen([sys.executable, str(tmp_path / "parent.py")], stdout=subprocess.PIPE, text=True,
                              cwd=os.getcwd())
    pids = [int(p) for p in parent.stdout.readline().split()]
    assert len(pids) == 2
    parent.kill()
    parent.wait()
    deadline = time.time() + 10
    while time.time() < deadline and any(os.path.exists(f"/proc/{p}") and not _zombie(p) for p in pids):
        time.sleep(0.1)
    assert not any(os.path.exists(f"/proc/{p}") and not _zombie(p) for p in pids)


def test_bad_arguments():
    with pytest.raises(ValueError, match="unknown benchmark 'nope'"):
        ParallelEnvs("nope", CARTPOLE, [0])
    with pytest.raises(ValueError, match="at least one env"):
        ParallelEnvs("cartpole", CARTPOLE, [])


def _zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] == "Z"
    except FileNotFoundError:
        return True
