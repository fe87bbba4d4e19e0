"""The PyTorch eager side of scripts/bench.py, run in a Python that has torch (its own venv).

    python bench_torch.py MODEL DATA.npz

MODEL is mlp, cnn or lstm: the same layers and optimizer as the nnx network it is timed against
(see scripts/bench.py). The training examples come from DATA.npz (`x`, `y`), written by bench.py
from nnx's own loading of the data set. After one warm-up epoch the worker prints `ready`; then
each line `epoch` on its standard input trains one epoch (a fresh shuffled order, batch 128, the
loss read back once at its end, as nnx does) and prints its wall time in seconds. Only torch and
numpy are imported, so nnx need not be installed in that venv.
"""

from __future__ import annotations

import os
import sys
import time

import numpy as np
import torch

BATCH = 128


def mlp():
    layers, sizes = [], [784, 256, 128]
    for (a, b), p in zip(zip(sizes[:-1], sizes[1:]), (0.4, 0.3)):
        layers += [torch.nn.Linear(a, b), torch.nn.ReLU(), torch.nn.Dropout(p)]
    model = torch.nn.Sequential(torch.nn.Flatten(), *layers, torch.nn.Linear(sizes[-1], 10))
    return model, torch.optim.RMSprop(model.parameters(), lr=1e-3, alpha=0.9, eps=1e-7), torch.nn.CrossEntropyLoss()


def cnn():
    def block(a, b):  # 3x3 'same' convolution without bias (batch norm follows), batch norm, ReLU
        return [torch.nn.Conv2d(a, b, 3, padding=1, bias=False), torch.nn.BatchNorm2d(b, momentum=0.1),
                torch.nn.ReLU()]

    model = torch.nn.Sequential(
        *block(1, 32), torch.nn.MaxPool2d(2),
        *block(32, 64), *block(64, 64), torch.nn.MaxPool2d(2),
        torch.nn.Flatten(), torch.nn.Linear(7 * 7 * 64, 128), torch.nn.ReLU(), torch.nn.Dropout(0.3),
        torch.nn.Linear(128, 10))
    return model, torch.optim.Adam(model.parameters(), lr=2e-3), torch.nn.CrossEntropyLoss()


class LSTM(torch.nn.Module):
    def __init__(self, words: int):
        super().__init__()
        self.embedding = torch.nn.Embedding(words, 32)
        self.lstm = torch.nn.LSTM(32, 32, batch_first=True)
        self.out = torch.nn.Linear(32, 1)

    def forward(self, x):
        _, (h, _) = self.lstm(self.embedding(x))
        return self.out(h[-1]).squeeze(-1)  # the last state


def lstm(words: int):
    model = LSTM(words)
    return model, torch.optim.RMSprop(model.parameters(), lr=1e-3, alpha=0.9, eps=1e-7), torch.nn.BCEWithLogitsLoss()


def main() -> None:
    name, path = sys.argv[1], sys.argv[2]
    torch.set_num_threads(os.cpu_count() or 2)
    torch.manual_seed(0)
    data = np.load(path)
    x, y = torch.from_numpy(data["x"]), torch.from_numpy(data["y"])
    if name == "cnn":
        x = x.reshape(len(x), 1, 28, 28)  # channels first, PyTorch's layout
    if name == "lstm":
        model, opt, loss_fn = lstm(int(x.max()) + 1)
        x, y = x.long(), y.float().reshape(-1)
    else:
        model, opt, loss_fn = {"mlp": mlp, "cnn": cnn}[name]()
        y = y.long().reshape(-1)

    def epoch() -> float:
        t = time.perf_counter()
        model.train()
        order = torch.randperm(len(x))
        for start in range(0, len(order), BATCH):
            idx = order[start:start + BATCH]
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(x[idx]), y[idx])
            loss.backward()
            opt.step()
        loss.item()
        return time.perf_counter() - t

    epoch()  # warm-up, as the compilation on the nnx side
    print("ready", flush=True)
    for line in sys.stdin:
        if line.strip() == "epoch":
            print(f"{epoch():.6f}", flush=True)


if __name__ == "__main__":
    main()
