"""N m3 envs in worker processes, stepped as a batch (design §8.4, §10).

Worker i builds `registry.make_env(benchmark, cfg, mode, seeds[i])` in its own process. `step` sends
every active worker its action before reading any reply, so the envs step side by side. An env whose
episode ends resets itself at once (auto-reset): that step returns the first observation of the next
episode, with the last one in `info["final_obs"]`. Envs can be left out of a step (`active`), which is
how evaluation cuts every episode at its first end (`m3.evaluation.episodes`).

Workers start with multiprocessing's forkserver: the server imports `__main__` and `m3.envs` once and
each worker forks from it, so a worker neither re-imports torch nor inherits a parent's JAX threads.
Every reply is awaited together with the worker's process sentinel, so a worker that dies raises
`EnvWorkerError` naming the worker and its exit code at once, and one that stops answering raises it
after `timeout` seconds; either way all workers are shut down first. Workers ignore SIGINT (the parent
handles Ctrl-C and closes them) and exit when the parent's end of their pipe closes.
"""

from __future__ import annotations

import multiprocessing as mp
import signal
import traceback
import weakref
from multiprocessing.connection import Connection, wait
from typing import Any, Sequence

import numpy as np

from m3.envs.registry import EnvConfig, Mode
from m3.envs.spec import FINAL_OBS

DEFAULT_TIMEOUT = 900.0  # seconds one reply may take; a cold Craftax JIT in a busy worker takes minutes
CLOSE_GRACE = 5.0  # seconds a worker gets to exit after "close" before it is killed


class EnvWorkerError(RuntimeError):
    """An env worker died, timed out or raised; the message names the worker."""


def stack_obs(obs: Sequence[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """[{name: (...)}] * N -> {name: (N, ...)}."""
    return {k: np.stack([o[k] for o in obs]) for k in obs[0]}


def _worker(conn: Connection, benchmark: str, cfg: EnvConfig, mode: Mode, seed: int) -> None:
    # Ctrl-C and SLURM's SIGTERM reach every process of the job: the parent decides when workers end (it stops at
    # a safe point and closes them), so they ignore both; `_shutdown` kills stragglers with SIGKILL.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    from m3.envs import registry

    env = None
    try:
        env = registry.make_env(benchmark, cfg, mode, seed)
        conn.send(("ok", None))
        while True:
            command, arg = conn.recv()
            if command == "reset":
                conn.send(("ok", env.reset(seed=arg)))
            elif command == "step":
                obs, reward, terminated, truncated, info = env.step(arg)
                if terminated or truncated:
                    info = {**info, FINAL_OBS: obs}
                    obs, _ = env.reset()
                conn.send(("ok", (obs, float(reward), bool(terminated), bool(truncated), info)))
            elif command == "close":
                conn.send(("ok", None))
                return
            else:
                raise ValueError(f"unknown command {command!r}")
    except (EOFError, BrokenPipeError):  # the parent is gone
        return
    except BaseException:
        try:
            conn.send(("error", traceback.format_exc()))
        except OSError:
            pass
    finally:
        if env is not None:
            env.close()
        conn.close()


def _shutdown(processes: list, conns: list[Connection]) -> None:
    """Ask every live worker to close; kill the ones still running after CLOSE_GRACE seconds."""
    for p, conn in zip(processes, conns):
        if p.is_alive():
            try:
                conn.send(("close", None))
            except OSError:
                pass
    for p in processes:
        p.join(CLOSE_GRACE)
        if p.is_alive():  # hung or stopped: SIGKILL is the one signal it cannot ignore
            p.kill()
            p.join()
    for conn in conns:
        conn.close()


class ParallelEnvs:
    """`len(seeds)` envs of `benchmark`/`cfg.game`, one per worker process, seeded with `seeds`."""

    def __init__(self, benchmark: str, cfg: EnvConfig, seeds: Sequence[int], mode: Mode = "test",
                 timeout: float = DEFAULT_TIMEOUT) -> None:
        from m3.envs import registry

        registry.validate(benchmark, cfg)
        if not seeds:
            raise ValueError("ParallelEnvs needs at least one env (seeds is empty)")
        self.benchmark, self.game, self.timeout = benchmark, cfg.game, timeout
        self.num_envs = len(seeds)
        ctx = mp.get_context("forkserver")
        ctx.set_forkserver_preload(["__main__", "m3.envs"])
        self._conns: list[Connection] = []
        self._processes: list = []
        for i, seed in enumerate(seeds):
            parent, child = ctx.Pipe()
            p = ctx.Process(target=_worker, args=(child, benchmark, cfg, mode, int(seed)), daemon=True,
                            name=f"m3-env-{benchmark}-{i}")
            p.start()
            child.close()
            self._conns.append(parent)
            self._processes.append(p)
        self._finalizer = weakref.finalize(self, _shutdown, self._processes, self._conns)
        self._gather(range(self.num_envs), "start")
        self._last_obs: list[dict[str, np.ndarray]] = []

    # ---------------------------------------------------------------- protocol
    def _describe(self, i: int) -> str:
        return f"env worker {i} of {self.num_envs} ({self.benchmark}/{self.game}, pid {self._processes[i].pid})"

    def _fail(self, message: str) -> None:
        self.close()
        raise EnvWorkerError(message)

    def _receive(self, i: int, command: str) -> Any:
        conn, process = self._conns[i], self._processes[i]
        ready = wait([conn, process.sentinel], timeout=self.timeout)
        if not ready:
            self._fail(f"{self._describe(i)} did not answer {command!r} within {self.timeout:.0f} s")
        reply = None
        if conn in ready:
            try:
                reply = conn.recv()
            except (EOFError, OSError):  # the worker closed its end while dying
                pass
        if reply is None:
            process.join(CLOSE_GRACE)
            self._fail(f"{self._describe(i)} died during {command!r} with exit code {process.exitcode}"
                       f"{_signal_name(process.exitcode)}")
        status, payload = reply
        if status == "error":
            self._fail(f"{self._describe(i)} raised during {command!r}:\n{payload}")
        return payload

    def _send(self, i: int, command: str, arg: Any) -> None:
        try:
            self._conns[i].send((command, arg))
        except (BrokenPipeError, ConnectionResetError, OSError):
            self._processes[i].join(CLOSE_GRACE)
            self._fail(f"{self._describe(i)} is gone (exit code {self._processes[i].exitcode}"
                       f"{_signal_name(self._processes[i].exitcode)}); could not send {command!r}")

    def _gather(self, indices: Sequence[int] | range, command: str) -> list[Any]:
        return [self._receive(i, command) for i in indices]

    # ---------------------------------------------------------------- batched calls
    def reset(self, seeds: Sequence[int | None] | None = None) -> tuple[dict[str, np.ndarray], list[dict]]:
        """Reset every env (env i with `seeds[i]`, or continuing its own RNG). Returns obs {name: (N, ...)}, infos."""
        seeds = [None] * self.num_envs if seeds is None else list(seeds)
        if len(seeds) != self.num_envs:
            raise ValueError(f"reset got {len(seeds)} seeds for {self.num_envs} envs")
        for i, seed in enumerate(seeds):
            self._send(i, "reset", None if seed is None else int(seed))
        replies = self._gather(range(self.num_envs), "reset")
        self._last_obs = [obs for obs, _ in replies]
        return stack_obs(self._last_obs), [info for _, info in replies]

    def step(self, actions: np.ndarray, active: np.ndarray | None = None
             ) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray, np.ndarray, list[dict]]:
        """Step the active envs (default: all) with `actions` (N,) or (N, A).

        Returns obs {name: (N, ...)}, rewards (N,) float64, terminated (N,) bool, truncated (N,) bool and
        N info dicts. An inactive env is not stepped: its row repeats its last observation, with reward 0,
        both flags False and an empty info.
        """
        if not self._last_obs:
            raise RuntimeError("call reset() before step()")
        active = np.ones(self.num_envs, dtype=bool) if active is None else np.asarray(active, dtype=bool)
        indices = np.flatnonzero(active).tolist()
        for i in indices:
            self._send(i, "step", actions[i])
        rewards = np.zeros(self.num_envs)
        terminated = np.zeros(self.num_envs, dtype=bool)
        truncated = np.zeros(self.num_envs, dtype=bool)
        infos: list[dict] = [{} for _ in range(self.num_envs)]
        for i, (obs, reward, term, trunc, info) in zip(indices, self._gather(indices, "step")):
            self._last_obs[i], rewards[i], terminated[i], truncated[i], infos[i] = obs, reward, term, trunc, info
        return stack_obs(self._last_obs), rewards, terminated, truncated, infos

    def close(self) -> None:
        """Stop every worker (idempotent)."""
        self._finalizer()

    def __enter__(self) -> ParallelEnvs:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def _signal_name(exitcode: int | None) -> str:
    if exitcode is None or exitcode >= 0:
        return ""
    try:
        return f" (killed by {signal.Signals(-exitcode).name})"
    except ValueError:
        return ""


__all__ = ["EnvWorkerError", "ParallelEnvs", "stack_obs"]
