"""The Gray–Scott reaction–diffusion system in one space dimension (periodic, method of lines).

Source: J. E. Pearson, "Complex patterns in a simple system", Science 261 (1993) 189–192
(the 2-D original: diffusivities, domain, grid spacing and initial perturbation), and
W. N. Reynolds, J. E. Pearson and S. Ponce-Dawson, "Dynamics of self-replicating
patterns in reaction diffusion systems", Phys. Rev. Lett. 72 (1994) 2797–2800 (pulse
self-replication in 1-D):

    u_t = Du u_xx - u v^2 + F (1 - u),
    v_t = Dv v_xx + u v^2 - (F + k) v,

with Pearson's diffusivities Du = 2e-5, Dv = 1e-5, domain length 2.5 (periodic) and
spacing h = 2.5/256 (N = 256), and F = 0.04, k = 0.06, a point of the pulse-splitting
regime chosen here (checked by simulation, not taken from the papers).  Initial state: the trivial state
u = 1, v = 0 except u = 1/2, v = 1/4 on the points with |x - 1.25| <= 0.1 (about 20 mesh
points, Pearson's square in 1-D; his 1% noise is left out so that the model is
deterministic).  For these (F, k) the pulse splits: about four pulses by t = 500 and six
by t = 2000 (``T_SPAN``), the same at N = 512 and 1024.

Discretisation: x_j = j h, j = 0..N-1, states u1..uN then v1..vN (not interleaved),
second-order central differences with periodic wrap-around.  Rows 2..N-1 of each species
are one family (native loop).  Parameters ``Du Dv F k``.

>>> m = build(N=8)
>>> m.n_states, m.param_names
(16, ['Du', 'Dv', 'F', 'k'])
"""
import numpy as np
import sympy as sp

import symdyn as sd

from ._common import check_grid_size, merge_params, state_tuple

T_SPAN = (0.0, 2000.0)

#: Pearson (1993): diffusivities; F and k in the pulse-splitting regime
DEFAULTS = {"Du": 2e-5, "Dv": 1e-5, "F": 0.04, "k": 0.06}
#: the periodic domain [0, LENGTH) and the half-width of the initial perturbation
LENGTH = 2.5
PERTURBATION_HALF_WIDTH = 0.1


def grid(N: int = 256, L: float = LENGTH) -> np.ndarray:
    """The periodic grid ``x_j = j L/N``, j = 0..N-1.

    >>> grid(4, 2.0).tolist()
    [0.0, 0.5, 1.0, 1.5]
    """
    N = check_grid_size(N)
    return L * np.arange(N) / N


def initial_values(N: int = 256, L: float = LENGTH):
    """``(u0, v0)``: 1 and 0, but 1/2 and 1/4 where ``|x - L/2| <= 0.1``."""
    x = grid(N, L)
    inside = np.abs(x - L / 2) <= PERTURBATION_HALF_WIDTH
    return np.where(inside, 0.5, 1.0), np.where(inside, 0.25, 0.0)


def build(*, N=256, L=LENGTH, **params) -> sd.Model:
    """Gray–Scott on ``N`` periodic points of ``[0, L)`` (2N states ``u1..uN v1..vN``).

    Keywords ``Du Dv F k`` override the parameters.

    >>> build().n_states
    512
    """
    N = check_grid_size(N, minimum=3)
    if not (L > 2 * PERTURBATION_HALF_WIDTH and np.isfinite(L)):
        raise ValueError(f"L must be a length > {2 * PERTURBATION_HALF_WIDTH}, got {L!r}")
    p = merge_params(DEFAULTS, params)
    m = sd.Model(f"gray_scott_1d_N{N}")
    u0, v0 = initial_values(N, L)
    u = state_tuple(m, "u", u0.tolist())
    v = state_tuple(m, "v", v0.tolist())
    du, dv, f, k = m.params("Du Dv F k", values=[p[name] for name in DEFAULTS])
    inv_h2 = sp.Float(float(N / L) ** 2)
    cu, cv = sp.Mul(du, inv_h2), sp.Mul(dv, inv_h2)
    minus_fk = -(f + k)
    for i in range(N):
        uv2 = sp.Mul(u[i], sp.Pow(v[i], 2))
        lap = sp.Add(u[i - 1], sp.Mul(-2, u[i]), u[(i + 1) % N])
        m.eq(sd.D(u[i]), sp.Add(sp.Mul(cu, lap), -uv2, sp.Mul(f, sp.Add(1, -u[i]))))
    for i in range(N):
        uv2 = sp.Mul(u[i], sp.Pow(v[i], 2))
        lap = sp.Add(v[i - 1], sp.Mul(-2, v[i]), v[(i + 1) % N])
        m.eq(sd.D(v[i]), sp.Add(sp.Mul(cv, lap), uv2, sp.Mul(minus_fk, v[i])))
    return m
