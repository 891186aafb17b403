"""The short text report of an :class:`~symdyn.analysis.Analysis` (``print(a)``).

>>> import symdyn as sd
>>> m = sd.Model("decay"); x = m.states("x", init=1.0); m.eq(sd.D(x), -x)
>>> print(sd.analyze(m, t_span=(0.0, 1.0)))  # doctest: +ELLIPSIS
Analysis of 'decay' (1 states, 1 Jacobian nonzeros)
  linear part    L diagonal, 1 nonzeros, rho(L) = 1 (all eigenvalues)
...
  recommended    tsit5 (explicit)
...
"""
from __future__ import annotations


#: how the eigenvalue facts were obtained, by Spectrum.method
HOW = {"dense": "all eigenvalues", "arnoldi": "ARPACK, dominant eigenvalues", "gershgorin": "Gershgorin bounds"}


def _g(x) -> str:
    return "n/a" if x is None else f"{x:.3g}"


def report(a) -> str:
    """The report printed by ``print(a)``: structure, stiffness, the method and why.

    >>> import symdyn as sd
    >>> m = sd.Model("m"); x = m.states("x", init=1.0); m.eq(sd.D(x), -x**2)
    >>> report(sd.analyze(m)).splitlines()[1]
    '  linear part    none (no term is a state times a state-free coefficient)'
    """
    lines = [f"Analysis of {a.model.name!r} ({a.n} states, {a.sparsity.nnz} Jacobian nonzeros)"]
    if not a.semilinear:
        lines.append("  linear part    none (no term is a state times a state-free coefficient)")
    elif a.L_structure == "scalar(t)":
        lines.append(f"  linear part    L = a(t) I, a(t) = {a.L}; "
                     f"integral of |a| over the window = {_g(a.scalar_gain)}")
    else:
        extra = f", bandwidths {a.bandwidths}" if a.L_structure == "banded" else ""
        how = HOW[a.L_spectrum.method] if a.L_spectrum is not None else "n/a"
        lines.append(f"  linear part    L {a.L_structure}, {a.L.nnz} nonzeros{extra}, "
                     f"rho(L) = {_g(a.L_radius)} ({how})")
    if a.semilinear:
        lines.append(
            f"  nonlinear part rho(J_N) = {_g(a.nonlinear_radius)}; rho(L)/rho(J_N) = {_g(a.dominance)}"
            f" ({'L dominates' if a.linear_dominates else 'L does not dominate'}); own stiffness ratio "
            f"{_g(a.nonlinear_stiffness_ratio)}"
        )
    lines.append(
        f"  stiffness      ratio {_g(a.stiffness_ratio)} = decay {_g(a.decay_rate)} / rate {_g(a.solution_rate)}"
        f" {'>' if a.stiff else '<='} {_g(a.stiffness_threshold)} (rtol {a.rtol:g}): "
        f"{'stiff' if a.stiff else 'not stiff'}; {len(a.samples)} sampled states, "
        f"{HOW[a.samples[0].jacobian.method]}"
    )
    if a.second_order:
        lines.append(
            f"  second order   q' = v for {len(a.q_indices)} pairs; "
            f"{'Hamiltonian (dF/dq symmetric)' if a.hamiltonian else 'dF/dq not symmetric'}"
        )
    else:
        lines.append("  second order   no")
    lines.append(f"  recommended    {a.recommended} ({a.family})")
    lines += [f"    - {r}" for r in a.reasons]
    if a.timings:
        parts = ", ".join(f"{k} {v:.2g}" for k, v in a.timings.items() if k != "total")
        lines.append(f"  analysed in {a.timings.get('total', 0.0):.2g} s ({parts})")
    return "\n".join(lines)
