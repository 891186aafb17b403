"""Methods as data: Butcher tableaus that check their own identities.

A method is an :class:`ExplicitRKTableau` -- coefficients, orders, and the paper they come
from.  One generic stepper (:mod:`symdyn.solvers.explicit`) integrates with any of them;
adding a method is adding a tableau here, a name in :data:`EXPLICIT_METHODS`, and a
convergence test.

Conventions (0-based stage indices, ``s_total`` rows in ``A`` and ``c``):

* ``A`` is strictly lower triangular, ``c_i = sum_j A_ij``.  Stages ``0 .. stages-1`` are
  evaluated every step; stages beyond that (``s_total > stages``) exist only for dense output
  and are evaluated on demand, only in steps where output is interpolated.
* ``b`` (length ``stages``) are the weights of the propagated solution;
  ``e = b - b_hat`` the error weights of the embedded pair (sum zero).  For a
  first-same-as-last (FSAL) method the last stage is ``f(t+h, u_new)``: its row of ``A`` is ``b``
  and its weight is zero (its error weight need not be).
* Dense output: ``u(t + theta*h) = u + h * sum_i b_i(theta) k_i`` with
  ``b_i(theta) = sum_j dense[i, j] * theta**(j+1)``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction as Fr

import numpy as np

from . import _dop853_data

__all__ = ["ExplicitRKTableau", "TableauError", "TSIT5", "DP5", "DOP853", "EXPLICIT_METHODS",
           "RadauTableau", "RADAU5", "RADAU_METHODS"]

#: relative tolerance of the identity checks (coefficients given as doubles)
IDENTITY_RTOL = 1e-12


class TableauError(ValueError):
    """A tableau violates one of the identities every consistent method satisfies."""

    def __init__(self, name, identity, residual):
        self.name, self.identity, self.residual = name, identity, residual
        super().__init__(f"tableau {name!r}: {identity} fails (residual {residual:.3g}); check the coefficients")


def _rooted_tree_conditions(A, c, b, order):
    """The order conditions ``sum b * Phi(tree) = 1/gamma(tree)`` for every tree up to order 4,
    and the bushy-tree (quadrature) conditions up to ``order``.  Yields (label, residual)."""
    Ac = A @ c
    trees = {
        1: [("sum b", b.sum(), 1.0)],
        2: [("sum b c", b @ c, 1 / 2)],
        3: [("sum b c^2", b @ c**2, 1 / 3), ("sum b A c", b @ Ac, 1 / 6)],
        4: [
            ("sum b c^3", b @ c**3, 1 / 4),
            ("sum b c A c", b @ (c * Ac), 1 / 8),
            ("sum b A c^2", b @ (A @ c**2), 1 / 12),
            ("sum b A A c", b @ (A @ Ac), 1 / 24),
        ],
    }
    for k in range(1, order + 1):
        for label, got, want in trees.get(k, [(f"sum b c^{k - 1}", b @ c ** (k - 1), 1 / k)]):
            yield label, got - want
        if k > 4:
            yield f"sum b c^{k - 1}", b @ c ** (k - 1) - 1 / k


def nested_to_polynomial(factors, n_stages):
    """Expand a dense output written in Hairer's nested form into ``b_i(theta)`` polynomials.

    ``factors[j]`` is the vector (over stages) of ``F_j``, and the continuous extension is
    ``u + h*(w_0 (F_0 + w_1 (F_1 + w_2 (F_2 + ...))))`` with ``w_j = theta`` for even ``j`` and
    ``1 - theta`` for odd ``j`` (DOPRI5, DOP853).  Returns the ``(n_stages, degree)`` matrix of
    coefficients of ``theta**1 .. theta**degree``.
    """
    deg = len(factors)
    g = np.zeros((n_stages, deg + 1))
    for j in reversed(range(deg)):
        g = g.copy()
        g[:, 0] += factors[j]
        shifted = np.zeros_like(g)
        shifted[:, 1:] = g[:, :-1]
        g = shifted if j % 2 == 0 else g - shifted
    assert np.all(g[:, 0] == 0)
    return g[:, 1:]


@dataclass(frozen=True)
class ExplicitRKTableau:
    """An embedded explicit Runge--Kutta pair with a continuous extension.

    A new method provides: ``name``, ``order`` (of ``b``), ``embedded_order`` (of
    ``b - e``), ``A``, ``c``, ``b``, ``e``, ``dense`` and ``dense_order``, whether it is
    ``fsal``, and ``source`` (the paper).  ``e2`` is an optional second set of error
    weights (DOP853's 3rd-order estimate, combined as in Hairer's code).  ``error_exponent``
    is the ``q`` in ``h_new = h * err**(-1/q)`` and ``pi_beta`` the PI controller's
    ``beta`` (Hairer's values).
    """

    name: str
    order: int
    embedded_order: int
    A: np.ndarray
    c: np.ndarray
    b: np.ndarray
    e: np.ndarray
    dense: np.ndarray
    dense_order: int
    fsal: bool
    source: str
    error_exponent: float
    pi_beta: float = 0.04
    e2: np.ndarray | None = None
    stages: int = field(init=False)

    def __post_init__(self):
        f = lambda x: np.ascontiguousarray(np.asarray(x, dtype=np.float64))  # noqa: E731
        object.__setattr__(self, "A", f(self.A))
        object.__setattr__(self, "c", f(self.c))
        object.__setattr__(self, "b", f(self.b))
        object.__setattr__(self, "e", f(self.e))
        object.__setattr__(self, "dense", f(self.dense))
        object.__setattr__(self, "e2", f(self.e2 if self.e2 is not None else np.zeros_like(self.e)))
        object.__setattr__(self, "stages", len(self.b))
        for arr in (self.A, self.c, self.b, self.e, self.dense, self.e2):
            arr.setflags(write=False)
        self.validate()

    @property
    def s_total(self):
        """Stages including those used only for dense output."""
        return len(self.c)

    def validate(self):
        """Check the identities; raise :class:`TableauError` naming the first that fails."""
        s, st, A, c, b = self.stages, self.s_total, self.A, self.c, self.b
        if A.shape != (st, st) or self.dense.shape[0] != st or self.e.shape != (s,) or self.e2.shape != (s,):
            raise TableauError(self.name, "shapes of A, c, b, e, dense agree", np.nan)
        if np.any(np.triu(A) != 0):
            raise TableauError(self.name, "A strictly lower triangular", np.abs(np.triu(A)).max())

        def check(identity, residual, scale=1.0):
            if not abs(residual) <= IDENTITY_RTOL * max(1.0, scale):
                raise TableauError(self.name, identity, residual)

        for i in range(st):
            check(f"row {i} of A sums to c[{i}]", A[i].sum() - c[i], np.abs(A[i]).sum())
        As, cs = A[:s, :s], c[:s]
        for label, r in _rooted_tree_conditions(As, cs, b, self.order):
            check(f"order condition {label} (order {self.order})", r, np.abs(b).sum() * 10)
        b_hat = b - self.e
        for label, r in _rooted_tree_conditions(As, cs, b_hat, self.embedded_order):
            check(f"embedded order condition {label} (order {self.embedded_order})", r, np.abs(b_hat).sum() * 10)
        check("error weights sum to 0", self.e.sum(), np.abs(self.e).sum())
        check("second error weights sum to 0", self.e2.sum(), np.abs(self.e2).sum())
        if self.fsal:
            check("FSAL: last row of A equals b", np.abs(A[s - 1, : s - 1] - b[: s - 1]).max())
            check("FSAL: last weight is zero", b[s - 1])
            check("FSAL: last node is 1", c[s - 1] - 1)
        # the continuous extension: b_i(1) = b_i, and sum_i b_i(theta) c_i^(k-1) = theta^k / k
        b_one = self.dense.sum(axis=1)
        check("dense output at theta=1 equals b", np.abs(b_one[:s] - b).max() + np.abs(b_one[s:]).max(initial=0),
              np.abs(self.dense).sum())
        for theta in (0.3, 0.7):
            bt = self.dense @ theta ** np.arange(1, self.dense.shape[1] + 1)
            for k in range(1, self.dense_order + 1):
                check(f"dense order condition sum b_i({theta}) c_i^{k - 1}", bt @ c ** (k - 1) - theta**k / k,
                      np.abs(self.dense).sum() * 10)

    def native_args(self):
        """The arrays the native stepper takes, in its argument order."""
        return self.A, self.c, self.b, self.e, self.e2, self.dense


# --- Tsit5 ----------------------------------------------------------------------------------
def _tsit5():
    """Ch. Tsitouras, "Runge--Kutta pairs of order 5(4) satisfying only the first column
    simplifying assumption", Comput. Math. Appl. 62 (2011) 770--775.  Coefficients (double
    precision) and the expanded interpolant polynomials as in OrdinaryDiffEq.jl's
    ``tsit_tableaus.jl``."""
    c = [0.0, 0.161, 0.327, 0.9, 0.9800255409045097, 1.0, 1.0]
    A = np.zeros((7, 7))
    A[1, 0] = 0.161
    A[2, :2] = [-0.008480655492356989, 0.335480655492357]
    A[3, :3] = [2.8971530571054935, -6.359448489975075, 4.3622954328695815]
    A[4, :4] = [5.325864828439257, -11.748883564062828, 7.4955393428898365, -0.09249506636175525]
    A[5, :5] = [5.86145544294642, -12.92096931784711, 8.159367898576159, -0.071584973281401, -0.028269050394068383]
    A[6, :6] = [0.09646076681806523, 0.01, 0.4798896504144996, 1.379008574103742, -3.290069515436081,
                2.324710524099774]
    b = np.append(A[6, :6], 0.0)
    # e = b - b_hat (OrdinaryDiffEq's btilde = b_hat - b, with the opposite sign)
    e = -np.array([-0.00178001105222577714, -0.0008164344596567469, 0.007880878010261995, -0.1447110071732629,
                   0.5823571654525552, -0.45808210592918697, 0.015151515151515152])
    # b_i(theta) = r_i1 theta + r_i2 theta^2 + r_i3 theta^3 + r_i4 theta^4
    dense = np.array([
        [1.0, -2.763706197274826, 2.9132554618219126, -1.0530884977290216],
        [0.0, 0.13169999999999998, -0.2234, 0.1017],
        [0.0, 3.9302962368947516, -5.941033872131505, 2.490627285651253],
        [0.0, -12.411077166933676, 30.33818863028232, -16.548102889244902],
        [0.0, 37.50931341651104, -88.1789048947664, 47.37952196281928],
        [0.0, -27.896526289197286, 65.09189467479366, -34.87065786149661],
        [0.0, 1.5, -4.0, 2.5],
    ])
    return ExplicitRKTableau(
        name="tsit5", order=5, embedded_order=4, A=A, c=c, b=b, e=e, dense=dense, dense_order=4, fsal=True,
        error_exponent=5.0, pi_beta=0.04,
        source="Ch. Tsitouras, Comput. Math. Appl. 62 (2011) 770-775; coefficients as in OrdinaryDiffEq.jl",
    )


# --- Dormand--Prince 5(4) --------------------------------------------------------------------
def _dp5():
    """J. R. Dormand, P. J. Prince, "A family of embedded Runge--Kutta formulae", J. Comput.
    Appl. Math. 6 (1980) 19--26; dense output of Shampine (1986) as in Hairer, Norsett & Wanner,
    *Solving ODEs I*, Sec. II.6 (code DOPRI5).  Exact rationals."""
    A = [[Fr(0)] * 7 for _ in range(7)]
    A[1][:1] = [Fr(1, 5)]
    A[2][:2] = [Fr(3, 40), Fr(9, 40)]
    A[3][:3] = [Fr(44, 45), Fr(-56, 15), Fr(32, 9)]
    A[4][:4] = [Fr(19372, 6561), Fr(-25360, 2187), Fr(64448, 6561), Fr(-212, 729)]
    A[5][:5] = [Fr(9017, 3168), Fr(-355, 33), Fr(46732, 5247), Fr(49, 176), Fr(-5103, 18656)]
    A[6][:6] = [Fr(35, 384), Fr(0), Fr(500, 1113), Fr(125, 192), Fr(-2187, 6784), Fr(11, 84)]
    c = [sum(row) for row in A]
    b = A[6][:6] + [Fr(0)]
    b_hat = [Fr(5179, 57600), Fr(0), Fr(7571, 16695), Fr(393, 640), Fr(-92097, 339200), Fr(187, 2100), Fr(1, 40)]
    e = [bi - bh for bi, bh in zip(b, b_hat)]
    d = [Fr(-12715105075, 11282082432), Fr(0), Fr(87487479700, 32700410799), Fr(-10690763975, 1880347072),
         Fr(701980252875, 199316789632), Fr(-1453857185, 822651844), Fr(69997945, 29380423)]
    # u(t+theta h) = u + h theta (r1 + (1-theta)(r2 + theta (r3 + (1-theta) r4)))
    bf = np.array([float(x) for x in b])
    k1, k7 = np.eye(7)[0], np.eye(7)[6]
    r1 = bf
    r2 = k1 - bf
    r3 = bf - k7 - r2
    r4 = np.array([float(x) for x in d])
    dense = nested_to_polynomial([r1, r2, r3, r4], 7)
    fl = lambda m: np.array(m, dtype=float)  # noqa: E731
    return ExplicitRKTableau(
        name="dp5", order=5, embedded_order=4, A=fl(A), c=fl(c), b=fl(b), e=fl(e), dense=dense, dense_order=4,
        fsal=True, error_exponent=5.0, pi_beta=0.04,
        source="Dormand & Prince, J. Comput. Appl. Math. 6 (1980) 19-26; dense output Shampine (1986), "
               "Hairer-Norsett-Wanner I, Sec. II.6",
    )


# --- DOP853 ------------------------------------------------------------------------------------
def _dop853():
    """Dormand & Prince 8(5,3) with Hairer's 7th-order dense output (code DOP853); Hairer,
    Norsett & Wanner, *Solving ODEs I*, Sec. II.10.  See :mod:`symdyn.solvers._dop853_data`."""
    d = _dop853_data
    st, s = 16, 13
    c = np.array([float(x) for x in d.C])
    A = np.zeros((st, st))
    for i, j, v in d.A:
        A[i, j] = float(v)
    b = np.append(A[12, :12], 0.0)
    e5 = np.zeros(s)
    for i, v in d.E5:
        e5[i] = float(v)
    e3 = b.copy()
    for i, v in d.BHH:
        e3[i] -= float(v)
    # u(t+theta h) = u + h * theta (F0 + (1-theta)(F1 + theta (F2 + ... (1-theta)(F5 + theta F6))))
    eye = np.eye(st)
    bb = np.append(b, np.zeros(st - s))
    F = [bb, eye[0] - bb, 2 * bb - eye[0] - eye[12]]
    Dm = np.zeros((4, st))
    for i, j, v in d.D:
        Dm[i, j] = float(v)
    F += list(Dm)
    dense = nested_to_polynomial(F, st)
    return ExplicitRKTableau(
        name="dop853", order=8, embedded_order=5, A=A, c=c, b=b, e=e5, e2=e3, dense=dense, dense_order=7,
        fsal=True, error_exponent=8.0, pi_beta=0.0,
        source="Hairer, Norsett & Wanner, Solving ODEs I (2nd ed. 1993), Sec. II.10; coefficients of dop853.f",
    )


TSIT5 = _tsit5()
DP5 = _dp5()
DOP853 = _dop853()

#: explicit methods by name
EXPLICIT_METHODS = {t.name: t for t in (TSIT5, DP5, DOP853)}


# === Rosenbrock methods ============================================================================
#: order conditions of Rosenbrock methods up to order 4 (Hairer & Wanner II, Table IV.7.1), as
#: (label, order, function of (b, alpha, beta) -> computed value, function of gamma -> target)
def _rosenbrock_conditions(b, alpha, beta, gamma, order):
    """Yield (label, residual) for the conditions up to ``order`` (<= 4, plus the bushy tree of
    order 5 when ``order >= 5``).  ``alpha``/``beta`` are strictly lower triangular, ``beta =
    alpha + Gamma`` off the diagonal, in the untransformed form of HW II, Sec. IV.7."""
    a = alpha.sum(axis=1)
    bp = beta.sum(axis=1)
    g = gamma
    conds = [
        (1, "sum b", b.sum(), 1.0),
        (2, "sum b beta'", b @ bp, 0.5 - g),
        (3, "sum b alpha^2", b @ a**2, 1 / 3),
        (3, "sum b beta beta'", b @ (beta @ bp), 1 / 6 - g + g**2),
        (4, "sum b alpha^3", b @ a**3, 1 / 4),
        (4, "sum b alpha (alpha beta')", b @ (a * (alpha @ bp)), 1 / 8 - g / 3),
        (4, "sum b beta alpha^2", b @ (beta @ a**2), 1 / 12 - g / 3),
        (4, "sum b beta beta beta'", b @ (beta @ (beta @ bp)), 1 / 24 - g / 2 + 1.5 * g**2 - g**3),
        (5, "sum b alpha^4", b @ a**4, 1 / 5),
    ]
    for k, label, got, want in conds:
        if k <= order:
            yield label, got - want


@dataclass(frozen=True)
class RosenbrockTableau:
    """A Rosenbrock method in Hairer's transformed form (HW II, Sec. IV.7, eq. 7.25ff).

    With ``W = I/(h*gamma) - J`` (``J = df/du`` at the step's start) the stage increments are

        W U_i = f(t + c_i h, u + sum_{j<i} A_ij U_j) + sum_{j<i} (C_ij / h) U_j + h d_i df/dt,

    ``u_new = u + sum_i b_i U_i``, the error estimate is ``sum_i e_i U_i`` (``b - e`` are the weights
    of the embedded method) and the dense output is ``u + sum_i b_i(theta) U_i`` with
    ``b_i(theta) = sum_j dense[i, j] theta**(j+1)``.

    A new method provides ``name``, ``order``, ``embedded_order``, ``gamma``, ``A``, ``C``, ``c``, ``d``,
    ``b``, ``e``, ``dense``, ``dense_order`` and ``source``.  The constructor transforms back to the
    classical form (``Gamma^-1 = I/gamma - C``, ``alpha = A Gamma``, weights ``b Gamma``) and checks
    ``c_i = sum_j alpha_ij``, ``d_i = sum_j Gamma_ij``, the order conditions of the method and of its
    embedded method, and ``b_i(1) = b_i``.
    """

    name: str
    order: int
    embedded_order: int
    gamma: float
    A: np.ndarray
    C: np.ndarray
    c: np.ndarray
    d: np.ndarray
    b: np.ndarray
    e: np.ndarray
    dense: np.ndarray
    dense_order: int
    source: str
    stages: int = field(init=False)

    def __post_init__(self):
        f = lambda x: np.ascontiguousarray(np.asarray(x, dtype=np.float64))  # noqa: E731
        for name in ("A", "C", "c", "d", "b", "e", "dense"):
            object.__setattr__(self, name, f(getattr(self, name)))
            getattr(self, name).setflags(write=False)
        object.__setattr__(self, "stages", len(self.b))
        self.validate()

    @property
    def error_exponent(self):
        """``q`` in ``h_new = h * err**(-1/q)``: the local error estimate is O(h^q)."""
        return float(min(self.order, self.embedded_order) + 1)

    def classical(self):
        """``(alpha, Gamma, weights, embedded weights)`` of the untransformed method."""
        s = self.stages
        ginv = np.eye(s) / self.gamma - self.C
        G = np.linalg.inv(ginv)
        return self.A @ G, G, self.b @ G, (self.b - self.e) @ G

    def validate(self):
        s = self.stages
        shapes = [(self.A, (s, s)), (self.C, (s, s)), (self.c, (s,)), (self.d, (s,)), (self.e, (s,))]
        if any(x.shape != shp for x, shp in shapes) or self.dense.shape[0] != s:
            raise TableauError(self.name, "shapes of A, C, c, d, b, e, dense agree", np.nan)
        if np.any(np.triu(self.A) != 0) or np.any(np.triu(self.C) != 0):
            raise TableauError(self.name, "A and C strictly lower triangular", np.nan)
        alpha, G, bw, bhat = self.classical()

        def check(identity, residual, scale=1.0):
            if not abs(residual) <= 1e-10 * max(1.0, scale):
                raise TableauError(self.name, identity, residual)

        for i in range(s):
            check(f"c[{i}] = sum_j alpha[{i}, j]", alpha[i].sum() - self.c[i], np.abs(alpha[i]).sum())
            check(f"d[{i}] = sum_j Gamma[{i}, j]", G[i].sum() - self.d[i], np.abs(G[i]).sum())
        beta = alpha + np.tril(G, -1)
        for label, r in _rosenbrock_conditions(bw, alpha, beta, self.gamma, self.order):
            check(f"order condition {label} (order {self.order})", r, np.abs(bw).sum() * 10)
        for label, r in _rosenbrock_conditions(bhat, alpha, beta, self.gamma, self.embedded_order):
            check(f"embedded order condition {label} (order {self.embedded_order})", r, np.abs(bhat).sum() * 10)
        b_one = self.dense.sum(axis=1)
        check("dense output at theta=1 equals b", np.abs(b_one - self.b).max(), np.abs(self.dense).sum())

    def native_args(self):
        """The arrays the native stepper takes, in its argument order."""
        return self.A, self.C, self.c, self.d, self.b, self.e, self.dense


def _rodas_dense(b, H):
    """Rodas' interpolant ``(1-th) u + th (u_new + (1-th)(K1 + th K2 + th^2 K3 ...))`` with
    ``K_r = sum_i H[r, i] U_i`` (OrdinaryDiffEq.jl's form) as polynomials ``b_i(theta)``."""
    s, r = H.shape[1], H.shape[0]
    dense = np.zeros((s, r + 2))
    dense[:, 0] += b  # theta * b
    for k in range(r):  # (theta - theta^2) theta^k H_k
        dense[:, k] += H[k]
        dense[:, k + 1] -= H[k]
    return dense[:, : r + 1]


def _stiffly_accurate_rows(a_rows, s):
    """Rodas' stage inputs: rows of ``a`` given for the first stages; every later stage starts
    from the previous stage's input plus its increment (u_{i+1} = u_i + U_i)."""
    A = np.zeros((s, s))
    for i, row in enumerate(a_rows, start=1):
        A[i, : len(row)] = row
    for i in range(len(a_rows) + 1, s):
        A[i, : i - 1] = A[i - 1, : i - 1]
        A[i, i - 1] = 1.0
    b = A[s - 1].copy()
    b[s - 1] = 1.0
    return A, b


def _lower(rows, s):
    M = np.zeros((s, s))
    for i, row in enumerate(rows, start=1):
        M[i, : len(row)] = row
    return M


def _rodas4():
    """E. Hairer, G. Wanner, *Solving ODEs II*, 2nd ed., Sec. VI.4 (code RODAS, method 1);
    coefficients and dense output as in OrdinaryDiffEq.jl's ``Rodas4Tableau``."""
    s = 6
    A, b = _stiffly_accurate_rows([
        [1.544],
        [0.9466785280815826, 0.2557011698983284],
        [3.314825187068521, 2.896124015972201, 0.9986419139977817],
        [1.221224509226641, 6.019134481288629, 12.53708332932087, -0.6878860361058950],
    ], s)
    C = _lower([
        [-5.6688],
        [-2.430093356833875, -0.2063599157091915],
        [-0.1073529058151375, -9.594562251023355, -20.47028614809616],
        [7.496443313967647, -10.24680431464352, -33.99990352819905, 11.70890893206160],
        [8.083246795921522, -7.981132988064893, -31.52159432874371, 16.31930543123136, -6.058818238834054],
    ], s)
    c = [0.0, 0.386, 0.21, 0.63, 1.0, 1.0]
    d = [0.25, -0.1043, 0.1035, -0.03620000000000023, 0.0, 0.0]
    H = np.array([
        [10.12623508344586, -7.487995877610167, -34.80091861555747, -7.992771707568823, 1.025137723295662, 0.0],
        [-0.6762803392801253, 6.087714651680015, 16.43084320892478, 24.76722511418386, -6.594389125716872, 0.0],
    ])
    e = np.eye(s)[s - 1]
    return RosenbrockTableau(
        name="rodas4", order=4, embedded_order=3, gamma=0.25, A=A, C=C, c=c, d=d, b=b, e=e,
        dense=_rodas_dense(b, H), dense_order=3,
        source="Hairer & Wanner, Solving ODEs II (2nd ed. 1996), Sec. VI.4, code RODAS; "
               "coefficients as in OrdinaryDiffEq.jl",
    )


def _rodas5p():
    """G. Steinebach, "Construction of Rosenbrock-Wanner method Rodas5P and numerical
    benchmarks within the Julia Differential Equations package", BIT Numer. Math. 63 (2023) 27;
    coefficients and dense output as in OrdinaryDiffEq.jl's ``Rodas5PTableau``."""
    s = 8
    A, b = _stiffly_accurate_rows([
        [3.0],
        [2.849394379747939, 0.45842242204463923],
        [-6.954028509809101, 2.489845061869568, -10.358996098473584],
        [2.8029986275628964, 0.5072464736228206, -0.3988312541770524, -0.04721187230404641],
        [-7.502846399306121, 2.561846144803919, -11.627539656261098, -0.18268767659942256, 0.030198172008377946],
    ], s)
    C = _lower([
        [-14.155112264123755],
        [-17.97296035885952, -2.859693295451294],
        [147.12150275711716, -1.41221402718213, 71.68940251302358],
        [165.43517024871676, -0.4592823456491126, 42.90938336958603, -5.961986721573306],
        [24.854864614690072, -3.0009227002832186, 47.4931110020768, 5.5814197821558125, -0.6610691825249471],
        [30.91273214028599, -3.1208243349937974, 77.79954646070892, 34.28646028294783, -19.097331116725623,
         -28.087943162872662],
        [37.80277123390563, -3.2571969029072276, 112.26918849496327, 66.9347231244047, -40.06618937091002,
         -54.66780262877968, -9.48861652309627],
    ], s)
    c = [0.0, 0.6358126895828704, 0.4095798393397535, 0.9769306725060716, 0.4288403609558664, 1.0, 1.0, 1.0]
    d = [0.21193756319429014, -0.42387512638858027, -0.3384627126235924, 1.8046452872882734,
         2.325825639765069, 0.0, 0.0, 0.0]
    H = np.array([
        [25.948786856663858, -2.5579724845846235, 10.433815404888879, -2.3679251022685204, 0.524948541321073,
         1.1241088310450404, 0.4272876194431874, -0.17202221070155493],
        [-9.91568850695171, -0.9689944594115154, 3.0438037242978453, -24.495224566215796, 20.176138334709044,
         15.98066361424651, -6.789040303419874, -6.710236069923372],
        [11.419903575922262, 2.8879645146136994, 72.92137995996029, 80.12511834622643, -52.072871366152654,
         -59.78993625266729, -0.15582684282751913, 4.883087185713722],
    ])
    e = np.eye(s)[s - 1]
    return RosenbrockTableau(
        name="rodas5p", order=5, embedded_order=4, gamma=0.21193756319429014, A=A, C=C, c=c, d=d, b=b, e=e,
        dense=_rodas_dense(b, H), dense_order=4,
        source="G. Steinebach, BIT Numer. Math. 63 (2023) 27; coefficients as in OrdinaryDiffEq.jl",
    )


def _rosenbrock23():
    """L. F. Shampine, M. W. Reichelt, "The MATLAB ODE suite", SIAM J. Sci. Comput. 18 (1997)
    1--22 (ode23s): order 2 with a 3rd-order error estimate and an order-2 interpolant, written
    here in the transformed form (U_1 = h d k_1, U_2 = h d (k_2 - k_1), U_3 = h d k_3 - e32 U_2 - 2 U_1)."""
    dd = 1.0 / (2.0 + np.sqrt(2.0))
    e32 = 6.0 + np.sqrt(2.0)
    A = _lower([[0.5 / dd], [1.0 / dd, 1.0 / dd]], 3)
    C = _lower([[-1.0 / dd], [-2.0 / dd, -e32 / dd]], 3)
    b = np.array([1.0 / dd, 1.0 / dd, 0.0])
    # err = h/6 (k1 - 2 k2 + k3); embedded (order 3) = b - e
    e = -np.array([1.0, e32 - 2.0, 1.0]) / (6.0 * dd)
    # u + h (theta (1-theta)/(1-2d) k1 + theta (theta-2d)/(1-2d) k2)
    w = 1.0 / (dd * (1.0 - 2.0 * dd))
    dense = np.array([
        [w * (1.0 - 2.0 * dd), 0.0],      # k1 + k2 terms on U1: theta(1-th) + theta(th - 2d)
        [-2.0 * dd * w, w],              # U2 = h d (k2 - k1): theta (theta - 2d)
        [0.0, 0.0],
    ])
    return RosenbrockTableau(
        name="rosenbrock23", order=2, embedded_order=3, gamma=dd, A=A, C=C, c=[0.0, 0.5, 1.0], d=[dd, 0.0, -dd],
        b=b, e=e, dense=dense, dense_order=2,
        source="Shampine & Reichelt, SIAM J. Sci. Comput. 18 (1997) 1-22 (ode23s)",
    )


RODAS4 = _rodas4()
RODAS5P = _rodas5p()
ROSENBROCK23 = _rosenbrock23()

#: Rosenbrock methods by name
ROSENBROCK_METHODS = {t.name: t for t in (RODAS5P, RODAS4, ROSENBROCK23)}


# === fully implicit Runge--Kutta (Radau IIA) ===========================================================
@dataclass(frozen=True)
class RadauTableau:
    """A Radau IIA collocation method with the data of Hairer & Wanner's RADAU5 (HW II, Sec. IV.8).

    The stages solve ``Z = h (A x I) F(Z)`` for the increments ``Z_i = Y_i - u`` (``u_new = u +
    Z_s``: stiffly accurate).  The simplified Newton iteration works on ``W = (TI x I) Z``, where
    ``TI A^{-1} T = diag(gamma, [[alpha, -beta], [beta, alpha]])``: one real system with
    ``gamma/h I - J`` and one complex system with ``(alpha + i beta)/h I - J``.  The error estimate
    of RADAU5 is ``(gamma/h I - J)^{-1} (f(t, u) + sum_i dd_i Z_i / h)`` (an embedded method of
    order ``embedded_order`` with one more node at 0, filtered for stiff components); the dense
    output is the collocation polynomial ``u + sum_i l_i(theta) Z_i`` with
    ``l_i(theta) = sum_j dense[i, j] theta**(j+1)``, ``l_i(c_j) = delta_ij``.

    A new method provides ``name``, ``order``, ``embedded_order``, ``A``, ``c``, ``T``, ``TI``,
    ``gamma``, ``alpha``, ``beta``, ``dd``, ``dense``, ``dense_order`` and ``source``.  The constructor
    checks ``c_i = sum_j A_ij``, stiff accuracy (``b`` = last row of ``A``), the simplifying
    assumptions ``B(order)`` and ``C(stages)``, ``T TI = I`` and the block form of
    ``TI A^{-1} T``, the order conditions of the embedded method, and ``l_i(c_j) = delta_ij``.
    """

    name: str
    order: int
    embedded_order: int
    A: np.ndarray
    c: np.ndarray
    T: np.ndarray
    TI: np.ndarray
    gamma: float
    alpha: float
    beta: float
    dd: np.ndarray
    dense: np.ndarray
    dense_order: int
    source: str
    b: np.ndarray = field(init=False)
    stages: int = field(init=False)

    def __post_init__(self):
        f = lambda x: np.ascontiguousarray(np.asarray(x, dtype=np.float64))  # noqa: E731
        for name in ("A", "c", "T", "TI", "dd", "dense"):
            object.__setattr__(self, name, f(getattr(self, name)))
            getattr(self, name).setflags(write=False)
        object.__setattr__(self, "b", self.A[-1].copy())
        self.b.setflags(write=False)
        object.__setattr__(self, "stages", len(self.c))
        self.validate()

    @property
    def error_exponent(self):
        """``q`` in ``h_new = h * err**(-1/q)``: the local error estimate is O(h^q) (RADAU5: 4)."""
        return float(self.embedded_order + 1)

    def embedded_weights(self):
        """``(weight of f(t, u), weights of the stages)`` of the embedded method behind ``dd``:
        ``u_hat - u_new = h gamma0 f(t, u) + sum_i (dd_i gamma0) Z_i`` with ``gamma0 = 1/gamma`` and
        ``Z = h A F``, so the stage weights are ``b + gamma0 dd A``."""
        g0 = 1.0 / self.gamma
        return g0, self.b + g0 * (self.dd @ self.A)

    def validate(self):
        s, A, c, b = self.stages, self.A, self.c, self.b
        shapes = [(A, (s, s)), (self.T, (s, s)), (self.TI, (s, s)), (self.dd, (s,))]
        if any(x.shape != shp for x, shp in shapes) or self.dense.shape[0] != s:
            raise TableauError(self.name, "shapes of A, c, T, TI, dd, dense agree", np.nan)

        def check(identity, residual, scale=1.0):
            if not abs(residual) <= 1e-12 * max(1.0, scale):
                raise TableauError(self.name, identity, residual)

        check("last node is 1 (stiffly accurate)", c[-1] - 1.0)
        for i in range(s):
            check(f"row {i} of A sums to c[{i}]", A[i].sum() - c[i], np.abs(A[i]).sum())
        for k in range(1, self.order + 1):
            check(f"B({self.order}): sum b c^{k - 1} = 1/{k}", b @ c ** (k - 1) - 1.0 / k)
        for k in range(1, s + 1):
            check(f"C({s}): A c^{k - 1} = c^{k}/{k}", np.abs(A @ c ** (k - 1) - c**k / k).max())
        check("T TI = I", np.abs(self.T @ self.TI - np.eye(s)).max(), 10.0)
        lam = np.zeros((s, s))
        lam[0, 0] = self.gamma
        lam[1:, 1:] = [[self.alpha, -self.beta], [self.beta, self.alpha]]
        check("TI A^-1 T = diag(gamma, [[alpha, -beta], [beta, alpha]])",
              np.abs(self.TI @ np.linalg.inv(A) @ self.T - lam).max(), 100.0)
        g0, bh = self.embedded_weights()
        nodes = np.append(0.0, c)
        weights = np.append(g0, bh)
        for k in range(1, self.embedded_order + 1):
            check(f"embedded order condition sum b_hat c^{k - 1} = 1/{k}", weights @ nodes ** (k - 1) - 1.0 / k, 10.0)
        powers = c[None, :] ** np.arange(1, self.dense.shape[1] + 1)[:, None]  # (deg, s)
        check("dense output l_i(c_j) = delta_ij", np.abs(self.dense @ powers - np.eye(s)).max(), np.abs(self.dense).sum())


def _collocation_polynomials(c):
    """Coefficients of theta^1..theta^s of the cubic (s = 3) Lagrange polynomials with
    ``l_i(0) = 0`` and ``l_i(c_j) = delta_ij``."""
    s = len(c)
    V = np.array([[cj ** (k + 1) for k in range(s)] for cj in c])  # V[j, k] = c_j^(k+1)
    return np.linalg.solve(V, np.eye(s)).T  # dense[i, k]: sum_k dense[i, k] c_j^(k+1) = delta_ij


def _radau5():
    """Radau IIA of order 5 (3 stages) as in E. Hairer, G. Wanner, *Solving ODEs II*, 2nd ed.
    (1996), Sec. IV.8 and their code RADAU5: ``T``, ``TI`` and the error constants ``dd``
    are the values of radau5.f; eigenvalues of ``A^{-1}`` in closed form as there."""
    s6 = np.sqrt(6.0)
    A = np.array([
        [11 / 45 - 7 * s6 / 360, 37 / 225 - 169 * s6 / 1800, -2 / 225 + s6 / 75],
        [37 / 225 + 169 * s6 / 1800, 11 / 45 + 7 * s6 / 360, -2 / 225 - s6 / 75],
        [4 / 9 - s6 / 36, 4 / 9 + s6 / 36, 1 / 9],
    ])
    c = np.array([(4 - s6) / 10, (4 + s6) / 10, 1.0])
    T = np.array([
        [9.1232394870892942792e-02, -0.14125529502095420843, -3.0029194105147424492e-02],
        [0.24171793270710701896, 0.20412935229379993199, 0.38294211275726193779],
        [0.96604818261509293619, 1.0, 0.0],
    ])
    TI = np.array([
        [4.3255798900631553510, 0.33919925181580986954, 0.54177053993587487119],
        [-4.1787185915519047273, -0.32768282076106238708, 0.47662355450055045196],
        [-0.50287263494578687595, 2.5719269498556054292, -0.59603920482822492497],
    ])
    c81, c9 = 81.0 ** (1 / 3), 9.0 ** (1 / 3)
    u1 = (6.0 + c81 - c9) / 30.0  # the real eigenvalue of A
    alph = (12.0 - c81 + c9) / 60.0  # the complex pair of A: alph +- i beta
    beta = (c81 + c9) * np.sqrt(3.0) / 60.0
    cno = alph**2 + beta**2
    dd = [-(13 + 7 * s6) / 3, (-13 + 7 * s6) / 3, -1 / 3]
    return RadauTableau(
        name="radau5", order=5, embedded_order=3, A=A, c=c, T=T, TI=TI, gamma=1.0 / u1, alpha=alph / cno,
        beta=beta / cno, dd=dd, dense=_collocation_polynomials(c), dense_order=3,
        source="Hairer & Wanner, Solving ODEs II (2nd ed. 1996), Sec. IV.8, code RADAU5 (T, TI, dd of radau5.f)",
    )


RADAU5 = _radau5()

#: fully implicit Runge--Kutta methods by name
RADAU_METHODS = {RADAU5.name: RADAU5}
