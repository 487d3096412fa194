"""PyTorch's training step for the aiaas-train bench: an MLP 784-256-128-10 (ReLU), batch 128,
cross-entropy, torch.optim.Adam with its defaults, on random data; the median of STEPS steps
after WARMUP untimed ones, at the thread count given. Prints the median in milliseconds.

    python3 tests/torch/train_step.py THREADS [STEPS] [WARMUP]

`cargo bench -p aiaas-train` runs it (with AIAAS_BENCH_PYTHON, default python3) beside its own
step, so that both are timed in one run on one machine.
"""

import statistics
import sys
import time

import torch


def main():
    threads = int(sys.argv[1])
    steps = int(sys.argv[2]) if len(sys.argv) > 2 else 200
    warmup = int(sys.argv[3]) if len(sys.argv) > 3 else 20
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Linear(784, 256),
        torch.nn.ReLU(),
        torch.nn.Linear(256, 128),
        torch.nn.ReLU(),
        torch.nn.Linear(128, 10),
    )
    opt = torch.optim.Adam(model.parameters())
    x = torch.rand(128, 784)
    y = torch.randint(0, 10, (128,))

    def step():
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()

    for _ in range(warmup):
        step()
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    print(f"{statistics.median(times) * 1e3:.4f}")


if __name__ == "__main__":
    main()
