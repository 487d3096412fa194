"""Reference iterates of torch.optim.LBFGS (strong-Wolfe line search) on fixed problems.

Writes crates/aiaas-train/tests/data/lbfgs_torch.json, which the test `lbfgs_follows_torch`
(crates/aiaas-train/tests/it/lbfgs.rs) replays step by step. Run it again after changing the
problems:

    python3 -m pip install torch==2.9.1
    python3 tests/torch/lbfgs_reference.py

The parameters after k iterations are those of a fresh run with max_iter=k: torch's iterations
are deterministic, so the first k of a longer run are the same.
"""

import json
import pathlib

import torch

ITERATIONS = 12
ROWS, FEATURES = 40, 4


def problem(name, loss, outputs, l2, seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(ROWS, FEATURES, generator=g)
    w_true = torch.randn(outputs, FEATURES, generator=g)
    logits = x @ w_true.T + 0.3 * torch.randn(ROWS, outputs, generator=g)
    if loss == "cross_entropy":
        y = logits.argmax(dim=1).float()
    elif loss == "bce":
        y = (logits[:, 0] > 0).float()
    else:
        y = logits[:, 0]
    weight0 = 0.5 * torch.randn(outputs, FEATURES, generator=g)
    bias0 = 0.1 * torch.randn(outputs, generator=g)

    def objective(weight, bias):
        out = x @ weight.T + bias
        if loss == "cross_entropy":
            value = torch.nn.functional.cross_entropy(out, y.long())
        elif loss == "bce":
            value = torch.nn.functional.binary_cross_entropy_with_logits(out[:, 0], y)
        else:
            value = torch.nn.functional.mse_loss(out[:, 0], y)
        return value + 0.5 * l2 * (weight**2).sum()

    iterates = []
    for k in range(1, ITERATIONS + 1):
        weight = weight0.clone().requires_grad_(True)
        bias = bias0.clone().requires_grad_(True)
        opt = torch.optim.LBFGS(
            [weight, bias], lr=1, max_iter=k, history_size=5, line_search_fn="strong_wolfe"
        )

        def closure():
            opt.zero_grad()
            value = objective(weight, bias)
            value.backward()
            return value

        opt.step(closure)
        with torch.no_grad():
            value = objective(weight, bias).item()
        state = opt.state[opt._params[0]]
        iterates.append(
            {
                "params": weight.detach().flatten().tolist() + bias.detach().tolist(),
                "loss": value,
                "iterations": state["n_iter"],
                "evaluations": state["func_evals"],
            }
        )
    return {
        "name": name,
        "loss": loss,
        "outputs": outputs,
        "l2": l2,
        "x": x.flatten().tolist(),
        "y": y.tolist(),
        "params": weight0.flatten().tolist() + bias0.tolist(),
        "iterates": iterates,
    }


def main():
    torch.set_num_threads(1)
    problems = [
        problem("softmax regression", "cross_entropy", 3, 0.1, 1),
        problem("logistic regression", "bce", 1, 0.05, 2),
        problem("least squares", "mse", 1, 0.0, 3),
    ]
    out = pathlib.Path(__file__).resolve().parents[2] / "crates/aiaas-train/tests/data/lbfgs_torch.json"
    reference = {"torch": torch.__version__, "rows": ROWS, "features": FEATURES, "problems": problems}
    out.write_text(json.dumps(reference, indent=1) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
