"""Separable second-order structure: ``q' = v``, ``v' = F(q)``.

A model is *second order separable* when its states split into positions ``q`` and
velocities ``v`` with ``D(q_k) = v_k`` exactly (the right-hand side is the velocity's
symbol) and every ``D(v_k)`` free of all velocities and of ``t``.  Such a system is
``q'' = F(q)``; when moreover ``dF/dq`` is symmetric (checked numerically at sampled
states by :func:`is_symmetric`), ``F = -grad V`` locally and the system is Hamiltonian
with the separable ``H = |v|^2/2 + V(q)`` — the case of symplectic integrators
(Störmer–Verlet, Yoshida's compositions).

Example
-------
>>> import symdyn as sd, sympy as sp
>>> m = sd.Model("pendulum"); th, om = m.states("theta omega", init=[1.0, 0.0])
>>> m.eq(sd.D(th), om); m.eq(sd.D(om), -sp.sin(th))
>>> second_order_pairs(m)
([0], [1])
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sps

from ..model import Model

#: dF/dq counts as symmetric when |B - B^T| <= SYMMETRY_RTOL * max|B|
SYMMETRY_RTOL = 1e-8


def second_order_pairs(model: Model):
    """``(q_indices, v_indices)`` with ``D(q[k]) = v[k]`` and ``D(v)`` free of ``v`` and ``t``,
    or None.  ``model`` must have its observed quantities substituted (or none).

    A state whose derivative is another state is a position unless it is the velocity of a
    position (``v1' = q2`` is allowed); a chain ``x' = y, y' = z, z' = ...`` is not second order.

    >>> import symdyn as sd
    >>> m = sd.Model("m"); x, y, vx, vy = m.states("x y vx vy", init=[1.0, 0, 0, 1])
    >>> m.eq(sd.D(x), vx); m.eq(sd.D(y), vy); m.eq(sd.D(vx), -x); m.eq(sd.D(vy), -y - m.t)
    >>> second_order_pairs(m) is None  # D(vy) depends on t
    True
    """
    states = model.state_symbols
    index = {s: i for i, s in enumerate(states)}
    rhs = model.rhs
    target = {i: index[e] for i, e in enumerate(rhs) if e in index and index[e] != i}
    q = set(target)
    while True:  # a state both a position and some position's velocity: decide which
        v = {target[i] for i in q}
        conflict = q & v
        if not conflict:
            break
        roots = q - v  # positions no one points to: their targets are surely velocities
        q -= ({target[i] for i in roots} & conflict) or conflict
    v = [target[i] for i in sorted(q)]
    if not q or len(set(v)) != len(v) or len(q) + len(v) != len(states):
        return None
    v_syms = {states[j] for j in v} | {model.t}
    for j in v:
        if rhs[j].free_symbols & v_syms:
            return None
    return sorted(q), v


def is_symmetric(J, q_indices, v_indices) -> bool:
    """Whether ``dF/dq`` (rows ``v_indices``, columns ``q_indices`` of the Jacobian) is symmetric.

    >>> import numpy as np
    >>> J = np.array([[0.0, 0.0, 1.0, 0.0], [0.0, 0.0, 0.0, 1.0], [-2.0, 1.0, 0.0, 0.0], [1.0, -2.0, 0.0, 0.0]])
    >>> is_symmetric(J, [0, 1], [2, 3])
    True
    """
    if sps.issparse(J):
        B = sps.csr_matrix(J)[v_indices][:, q_indices]
        diff = abs(B - B.T).max() if B.nnz else 0.0
        scale = abs(B).max() if B.nnz else 0.0
    else:
        B = np.asarray(J)[np.ix_(v_indices, q_indices)]
        diff, scale = np.abs(B - B.T).max(), np.abs(B).max()
    return bool(diff <= SYMMETRY_RTOL * scale)
