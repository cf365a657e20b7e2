"""Forward+backward time of the retention forms at Atari scale (design §5.2, §10), printed as JSON.

Atari: H = 4 heads of d_h = 64, blocks of T = 65 tokens, segments of 10 blocks, chunks of 5 blocks;
POP prediction tokens run 64 tokens per block with the blocks folded into the batch. CPU, float32.
Usage (repository root): python -m benchmarks.retention [--batch 4] [--repeats 5]
"""
import argparse
import json
import time

import torch

from m3.models.retnet.retention import decay_gammas, retention, retention_chunkwise

H, D_H, T, K, BLOCKS, CHUNK_BLOCKS = 4, 64, 65, 64, 10, 5


def time_call(fn, inputs, repeats: int) -> float:
    """Mean seconds of fn(*inputs) followed by a backward pass through its output (one warm-up call)."""
    timings = []
    for i in range(repeats + 1):
        for x in inputs:
            x.grad = None
        begin = time.perf_counter()
        fn(*inputs).square().mean().backward()
        if i > 0:
            timings.append(time.perf_counter() - begin)
    return sum(timings) / len(timings)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    gamma = decay_gammas(H, 4, 16, T)
    B, N = args.batch, BLOCKS * T

    def qkv(batch: int, length: int) -> list[torch.Tensor]:
        return [torch.randn(batch, H, length, D_H, requires_grad=True) for _ in range(3)]

    def chunk_with_block_states(q, k, v):
        state, outs = None, []
        for begin in range(0, N, CHUNK_BLOCKS * T):
            chunk = slice(begin, begin + CHUNK_BLOCKS * T)
            out, state, _ = retention(q[:, :, chunk], k[:, :, chunk], v[:, :, chunk], gamma, state, block_size=T)
            outs.append(out)
        return torch.cat(outs, dim=2)

    states = torch.randn(B * BLOCKS, H, D_H, D_H)
    seconds = {
        "parallel_segment": time_call(lambda q, k, v: retention(q, k, v, gamma)[0], qkv(B, N), args.repeats),
        "chunkwise_5_blocks": time_call(
            lambda q, k, v: retention_chunkwise(q, k, v, gamma, CHUNK_BLOCKS * T)[0], qkv(B, N), args.repeats
        ),
        "chunkwise_5_blocks_with_block_states": time_call(chunk_with_block_states, qkv(B, N), args.repeats),
        "chunkwise_1_block": time_call(
            lambda q, k, v: retention_chunkwise(q, k, v, gamma, T)[0], qkv(B, N), args.repeats
        ),
        "pop_prediction_tokens": time_call(
            lambda q, k, v: retention(q, k, v, gamma, states)[0], qkv(B * BLOCKS, K), args.repeats
        ),
    }
    report = {
        "device": "cpu",
        "dtype": "float32",
        "batch": B,
        "tokens": N,
        "heads": H,
        "head_dim": D_H,
        "threads": torch.get_num_threads(),
        "forward_backward_seconds": seconds,
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
