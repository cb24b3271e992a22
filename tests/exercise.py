#!/usr/bin/python3
"""The lab exercise in Python PyTorch, written from its text (docs: "PyTorch autograd", parts 1 and 2)
as a student solves it: the parity tests run labrun and this beside each other and compare the
numbers that one seed gives. Needs Debian's python3-torch and python3-pandas.

Usage: exercise.py [factorise|mlp|all] [--rank R] [--repeats N] [--seed S] [--no-shuffle]
Prints JSON: {"factorise": {rank, gd_loss, svd_loss, singular_values, gd_seconds},
              "mlp": {repeats, runs: [{train_accuracy, val_accuracy, final_loss}], seconds}}
"""
import argparse
import json
import os
import sys
import time

IRIS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "iris.data")


def gd_factorise_ad(A, rank, num_epochs=1000, lr=0.01):
    """Part 1.1: U (m x r) and V (n x r) from torch.rand, then num_epochs of plain gradient descent on
    the sum-of-squares loss ||A - U V^T||_F^2, one autograd backward pass an epoch."""
    import torch
    import torch.nn.functional as F
    U = torch.rand(A.shape[0], rank, dtype=A.dtype, requires_grad=True)
    V = torch.rand(A.shape[1], rank, dtype=A.dtype, requires_grad=True)
    for _ in range(num_epochs):
        loss = F.mse_loss(U @ V.t(), A, reduction="sum")  # forward
        loss.backward()                                   # backward
        with torch.no_grad():                             # update, then clear the gradients
            U -= lr * U.grad
            V -= lr * V.grad
            U.grad.zero_()
            V.grad.zero_()
    return U.detach(), V.detach()


def factorise(rank):
    """Part 1.2: the centred Iris features (float64, as pandas gives them) at rank `rank`, and the
    truncated SVD's loss beside it."""
    import pandas as pd
    import torch
    import torch.nn.functional as F
    frame = pd.read_csv(IRIS, header=None)
    A = torch.tensor(frame.iloc[:, [0, 1, 2, 3]].values)
    A = A - A.mean(dim=0)
    start = time.perf_counter()
    U, V = gd_factorise_ad(A, rank)
    seconds = time.perf_counter() - start
    u, s, vh = torch.linalg.svd(A, full_matrices=False)
    kept = s.clone()
    kept[rank:] = 0
    best = u @ torch.diag(kept) @ vh
    return {"rank": rank,
            "gd_loss": F.mse_loss(U @ V.t(), A, reduction="sum").item(),
            "svd_loss": F.mse_loss(best, A, reduction="sum").item(),
            "singular_values": s.tolist(),
            "gd_seconds": seconds}


def train_once(x_train, y_train, x_val, y_val, epochs=100, lr=0.01):
    """Part 2.1: logits = relu(x W1 + b1) W2 + b2, b1 and b2 one scalar each, trained by full-batch
    gradient descent on the cross-entropy; part 2.2: the accuracies at the end."""
    import torch
    import torch.nn.functional as F
    W1 = torch.randn(4, 12, requires_grad=True)
    W2 = torch.randn(12, 3, requires_grad=True)
    b1 = torch.zeros(1, requires_grad=True)
    b2 = torch.zeros(1, requires_grad=True)

    def forward(x):
        return torch.relu(x @ W1 + b1) @ W2 + b2

    for _ in range(epochs):
        loss = F.cross_entropy(forward(x_train), y_train)
        loss.backward()
        with torch.no_grad():
            for p in (W1, W2, b1, b2):
                p -= lr * p.grad
                p.grad.zero_()
    with torch.no_grad():
        def accuracy(x, y):
            return (forward(x).argmax(1) == y).float().mean().item()
        return accuracy(x_train, y_train), accuracy(x_val, y_val), loss.item()


def mlp(repeats, seed, shuffle):
    """Part 2's data: the rows shuffled (pandas' sample, seeded), classes numbered in order of first
    appearance, float32 features scaled as (x - mean) / var, 100 rows to train and 50 to validate."""
    import pandas as pd
    import torch
    frame = pd.read_csv(IRIS, header=None)
    if shuffle:
        frame = frame.sample(frac=1, random_state=seed)
    classes = {name: index for index, name in enumerate(frame[4].unique())}
    labels = frame[4].map(classes)
    x = torch.tensor(frame.iloc[:, [0, 1, 2, 3]].values, dtype=torch.float)
    x = (x - x.mean(dim=0)) / x.var(dim=0)
    y = torch.tensor(labels.values, dtype=torch.long)
    runs = []
    start = time.perf_counter()
    for _ in range(repeats):
        train, val, loss = train_once(x[:100], y[:100], x[100:], y[100:])
        runs.append({"train_accuracy": train, "val_accuracy": val, "final_loss": loss})
    return {"repeats": repeats, "runs": runs, "seconds": time.perf_counter() - start}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("what", nargs="?", default="all", choices=["factorise", "mlp", "all"])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--rank", type=int, default=2)
    parser.add_argument("--no-shuffle", action="store_true")
    args = parser.parse_args()
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from script_checks import require_modules
    require_modules("exercise.py", "torch", "pandas")
    import torch
    if args.seed is not None:
        torch.manual_seed(args.seed)
    out = {}
    if args.what in ("factorise", "all"):
        out["factorise"] = factorise(args.rank)
    if args.what in ("mlp", "all"):
        out["mlp"] = mlp(args.repeats, args.seed, not args.no_shuffle)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
