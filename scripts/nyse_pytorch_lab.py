"""The ISLP lab's NYSE networks (lab 10.9.6) in PyTorch, on nnx's arrays, over several seeds.

    python scripts/nyse_pytorch_lab.py [--model rnn|nar] [--seeds 5] [--init pytorch|flax]

A reference for `experiments/nyse.yaml`'s `rnn_islp` and `nar_islp`: the lab's models and training
(RMSprop lr 0.001 with PyTorch's defaults, batch 64, all the training days, 200 epochs for the RNN
and 20 for the NAR, test R^2 after the last epoch), fed the same standardized lags nnx trains on, so any difference left is
the framework's. `--init flax` re-draws the weights as Flax's defaults would (LeCun-normal input
kernels, orthogonal recurrent kernel, zero biases), which is how the initialization was found to
be what separated nnx's RNN (R^2 0.406 with Flax's init) from the lab's 0.415: see docs/classics.md.
PyTorch is optional (`pip install torch==2.13.0`); about 10 s a seed on one CPU thread.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from nnx.data.islp import nyse_arrays, read_csv


def lab_model(kind: str):
    from torch import nn

    if kind == "nar":  # the lab's NonLinearARModel: 20 inputs (15 lags + 5 weekdays) -> 32 ReLU -> 1
        return nn.Sequential(nn.Linear(20, 32), nn.ReLU(), nn.Dropout(0.5), nn.Linear(32, 1), nn.Flatten(0))

    class NYSEModel(nn.Module):  # the lab's RNN: 12 tanh units, dropout 0.1 on the final state
        def __init__(self):
            super().__init__()
            self.rnn = nn.RNN(3, 12, batch_first=True)
            self.dense = nn.Linear(12, 1)
            self.dropout = nn.Dropout(0.1)

        def forward(self, x):
            val, _ = self.rnn(x)
            return self.dense(self.dropout(val[:, -1])).flatten()

    return NYSEModel()


def flax_init(model) -> None:
    """Flax's defaults: LeCun-normal (truncated) kernels, orthogonal recurrent kernels, zero biases."""
    import torch
    from torch import nn

    def lecun(w):
        sd = 1.0 / w.shape[1] ** 0.5 / 0.87962566  # Flax's truncated normal keeps the variance
        nn.init.trunc_normal_(w, std=sd, a=-2 * sd, b=2 * sd)

    with torch.no_grad():
        for name, p in model.named_parameters():
            if "bias" in name:
                p.zero_()
            elif "weight_hh" in name:
                nn.init.orthogonal_(p)
            else:
                lecun(p)


def main() -> None:
    import torch

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=["rnn", "nar"], default="rnn")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--init", choices=["pytorch", "flax"], default="pytorch")
    parser.add_argument("--epochs", type=int, help="default: the lab's, 200 for the RNN and 20 for the NAR")
    args = parser.parse_args()

    epochs = args.epochs or (20 if args.model == "nar" else 200)
    rows, _ = read_csv("NYSE.csv")
    nar = args.model == "nar"
    a = nyse_arrays(rows, 5, day_of_week=nar, layout="flat" if nar else "sequence")
    x, y, train = a["x"].astype(np.float32), a["y"].astype(np.float32), a["train"]
    x_train, y_train, x_test, y_test = map(torch.tensor, (x[train], y[train], x[~train], y[~train]))
    torch.set_num_threads(1)

    scores = []
    for seed in range(args.seeds):
        torch.manual_seed(seed)
        model = lab_model(args.model)
        if args.init == "flax":
            flax_init(model)
        optimizer = torch.optim.RMSprop(model.parameters(), lr=0.001)
        start = time.perf_counter()
        for _ in range(epochs):
            order = torch.randperm(len(x_train))
            for i in range(0, len(x_train), 64):
                batch = order[i:i + 64]
                loss = ((model(x_train[batch]) - y_train[batch]) ** 2).mean()
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
        model.eval()
        with torch.no_grad():
            residual = model(x_test) - y_test
        r2 = float(1 - (residual ** 2).sum() / ((y_test - y_test.mean()) ** 2).sum())
        scores.append(r2)
        print(f"seed {seed}: test R^2 {r2:.4f} ({time.perf_counter() - start:.0f} s)", flush=True)
    spread = statistics.stdev(scores) if len(scores) > 1 else 0.0
    print(f"{args.model}, {args.init} init: test R^2 {statistics.mean(scores):.4f} ± {spread:.4f} over {len(scores)} seeds")


if __name__ == "__main__":
    main()
