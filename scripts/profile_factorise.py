#!/usr/bin/python3
"""Where an epoch of the factorisation spends its time, operation by operation.

Runs the exercise's epoch (residual form: mse_loss(U V^T, A), autograd, update) and labrun's Gram
form on a 2000 x 500 float64 matrix at rank 32 under torch.autograd.profiler, with the libtorch
labrun links (Debian's python3-torch is the same build), and prints each form's operator table.

    /usr/bin/python3 scripts/profile_factorise.py [--epochs N] [--rows M] [--columns N] [--rank R]
"""
import argparse
import sys

try:
    import torch
except ImportError:
    sys.exit("profile_factorise.py: needs PyTorch (Debian: apt-get install python3-torch; run with /usr/bin/python3)")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--columns", type=int, default=500)
    parser.add_argument("--rank", type=int, default=32)
    args = parser.parse_args()
    if min(args.epochs, args.rows, args.columns, args.rank) < 1:
        parser.error("every size must be >= 1")

    torch.manual_seed(1)
    A = torch.randn(args.rows, args.columns, dtype=torch.float64)
    A_norm2 = A.reshape(-1).dot(A.reshape(-1))

    def residual(U, Vt):
        return torch.nn.functional.mse_loss(U.mm(Vt), A, reduction="sum")

    def gram(U, Vt):
        return A_norm2 - 2 * (U * A.mm(Vt.t())).sum() + (U.t().mm(U) * Vt.mm(Vt.t())).sum()

    for name, loss_of in (("residual", residual), ("gram", gram)):
        U = torch.rand(args.rows, args.rank, dtype=torch.float64, requires_grad=True)
        Vt = torch.rand(args.rank, args.columns, dtype=torch.float64, requires_grad=True)

        def epoch():
            loss = loss_of(U, Vt)
            loss.item()
            dU, dVt = torch.autograd.grad(loss, [U, Vt])
            with torch.no_grad():
                U.sub_(dU, alpha=1e-6)
                Vt.sub_(dVt, alpha=1e-6)

        epoch()  # warm-up
        with torch.autograd.profiler.profile() as profile:
            for _ in range(args.epochs):
                epoch()
        print(f"== {name} form, {args.epochs} epochs ({args.rows} x {args.columns}, rank {args.rank}, float64)")
        print(profile.key_averages().table(sort_by="self_cpu_time_total", row_limit=12))


if __name__ == "__main__":
    main()
