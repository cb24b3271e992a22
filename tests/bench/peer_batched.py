#!/usr/bin/python3
"""The peer a careful PyTorch user would write for part 2.2: all the models of the repeat study
trained as one computation (einsum and bmm over a leading model axis, autograd, plain SGD), the
exercise's MLP in each (a scalar shared bias per layer, ReLU, cross-entropy on the batch mean), on
the exercise's data preparation (pandas' shuffle, classes numbered by first appearance, features
divided by their variance, the first 100 rows training). Prints {"models", "epochs", "seconds",
"seconds_per_model"} for scripts/bench.sh; timing covers training alone, as labrun's
results.seconds does.

Usage: peer_batched.py IRIS_DATA [--models M] [--epochs E] [--seed S] [--threads T]
"""
import argparse
import json
import time

import pandas as pd
import torch
import torch.nn.functional as F


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("data")
    parser.add_argument("--models", type=int, default=200)
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)

    df = pd.read_csv(args.data, header=None).sample(frac=1, random_state=args.seed)
    classes = {name: i for i, name in enumerate(dict.fromkeys(df[4]))}
    X = torch.tensor(df.iloc[:, :4].values, dtype=torch.float32)
    y = torch.tensor(df[4].map(classes).values, dtype=torch.long)
    X = (X - X.mean(0)) / X.var(0)
    X_train, y_train = X[:100], y[:100]

    M, D, H, C = args.models, 4, 12, 3
    W1 = torch.randn(M, D, H, requires_grad=True)
    W2 = torch.randn(M, H, C, requires_grad=True)
    b1 = torch.zeros(M, 1, 1, requires_grad=True)
    b2 = torch.zeros(M, 1, 1, requires_grad=True)
    targets = y_train.repeat(M)
    start = time.perf_counter()
    for _ in range(args.epochs):
        hidden = torch.relu(torch.einsum("nd,mdh->mnh", X_train, W1) + b1)
        logits = torch.bmm(hidden, W2) + b2
        # Each model's loss is the mean over its rows; their sum gives each model its own gradient.
        loss = F.cross_entropy(logits.reshape(-1, C), targets, reduction="sum") / X_train.shape[0]
        loss.backward()
        with torch.no_grad():
            for p in (W1, W2, b1, b2):
                p -= 0.01 * p.grad
                p.grad.zero_()
    seconds = time.perf_counter() - start
    print(json.dumps({"models": M, "epochs": args.epochs, "seconds": seconds, "seconds_per_model": seconds / M}))


if __name__ == "__main__":
    main()
