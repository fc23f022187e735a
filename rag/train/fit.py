"""Fitting the answer selector's small models (`rag train-selector`): standardising
columns, L2-penalised logistic regression (Newton's method) and conditional logistic regression
over the candidates of a question (L-BFGS). Serving reads the fitted weights only
(`rag.generate.selector`)."""

from __future__ import annotations

import numpy as np

from rag.generate.selector import sigmoid


def standardize(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Column means and scales (1 where a column is constant)."""
    mean, scale = x.mean(axis=0), x.std(axis=0)
    scale[scale < 1e-6] = 1.0
    return mean, scale


def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float = 1.0, iterations: int = 50
                 ) -> tuple[np.ndarray, float]:
    """L2-regularised logistic regression by Newton's method (IRLS): (weights, bias).

    The bias is not penalised. Converges in a handful of steps for a few dozen features.
    """
    n, d = x.shape
    a = np.hstack([np.asarray(x, dtype=np.float64), np.ones((n, 1))])
    beta = np.zeros(d + 1)
    penalty = np.full(d + 1, l2)
    penalty[-1] = 0.0
    for _ in range(iterations):
        p = sigmoid(a @ beta)
        grad = a.T @ (p - y) + penalty * beta
        hess = (a * (p * (1 - p))[:, None]).T @ a + np.diag(penalty) + 1e-9 * np.eye(d + 1)
        step = np.linalg.solve(hess, grad)
        beta -= step
        if np.abs(step).max() < 1e-7:
            break
    return beta[:-1], float(beta[-1])


def fit_softmax(groups: list[tuple[np.ndarray, np.ndarray]], l2: float = 1.0) -> np.ndarray:
    """Conditional logistic regression: weights w maximising, over groups (candidates x, 0/1
    labels y with at least one 1), the log of the softmax probability mass on the positives.
    L2-penalised; solved with L-BFGS over all groups at once (segment sums)."""
    from scipy.optimize import minimize

    x = np.vstack([g[0] for g in groups]).astype(np.float64)
    pos = np.concatenate([g[1] for g in groups]) > 0
    sizes = np.array([len(g[0]) for g in groups])
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    member = np.repeat(np.arange(len(groups)), sizes)

    def loss(w: np.ndarray) -> tuple[float, np.ndarray]:
        s = x @ w
        s = s - np.maximum.reduceat(s, starts)[member]  # stable exponentials per group
        e = np.exp(s)
        p = e / np.add.reduceat(e, starts)[member]
        mass = np.add.reduceat(np.where(pos, p, 0.0), starts)
        q = p - np.where(pos, p / mass[member], 0.0)  # d(-log mass)/d(scores)
        return float(-np.log(mass + 1e-12).sum() + 0.5 * l2 * w @ w), x.T @ q + l2 * w

    result = minimize(loss, np.zeros(x.shape[1]), jac=True, method="L-BFGS-B",
                      options={"maxiter": 500})
    return result.x
