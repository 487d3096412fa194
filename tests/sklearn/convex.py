"""scikit-learn's LogisticRegression() or LinearRegression() on given rows.

    python3 tests/sklearn/convex.py logistic|linear DIR

DIR holds train_x.csv, train_y.csv, test_x.csv and test_y.csv (no header): the rows aiaas
trains and tests on, encoded as its model sees them. Prints two numbers: the test accuracy
(logistic) or R² (linear) at the optimum of scikit-learn's objective (its defaults, L2 with
C = 1 for the logistic model, solved to a gradient of 1e-10), and with its defaults as they are
(whose L-BFGS stops at a gradient of 1e-4, on digits short of the optimum).
"""

import sys
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LinearRegression, LogisticRegression


def main():
    kind, folder = sys.argv[1], sys.argv[2]
    load = lambda name: np.loadtxt(f"{folder}/{name}.csv", delimiter=",", ndmin=2)
    train_x, test_x = load("train_x"), load("test_x")
    train_y, test_y = load("train_y").ravel(), load("test_y").ravel()
    if kind == "logistic":
        with warnings.catch_warnings():
            # An optimum that is not one would make the comparison meaningless.
            warnings.simplefilter("error", ConvergenceWarning)
            optimum = LogisticRegression(tol=1e-10, max_iter=10_000).fit(train_x, train_y)
        default = LogisticRegression().fit(train_x, train_y)
    else:
        optimum = default = LinearRegression().fit(train_x, train_y)
    print(optimum.score(test_x, test_y), default.score(test_x, test_y))


if __name__ == "__main__":
    main()
