"""The method names the analysis can recommend, the thresholds, and the decision rule.

The solver side maps these names to integrators; they are listed here, once.

Decision, first match wins (the numbers come from :mod:`.stiffness` and :mod:`.split`):

1. **Hamiltonian** (``q' = v``, ``v' = F(q)``, ``dF/dq`` symmetric): ``"yoshida4"``.
2. **L = a(t) I** with ``integral |a(t)| dt >= SCALAR_MIN_GAIN`` over the time window and
   ``N`` not stiff by itself: ``"expms"`` (exponential multistep, exact on the linear part,
   as DEIS / DPM-Solver).
3. **Stiff** (stiffness ratio > ``stiffness_threshold(rtol)``):

   a. semilinear, the linear part dominates (``rho(L) >= LINEAR_DOMINANCE * rho(J_N)`` at every
      sample), the nonlinear part is not stiff by itself (its ratio ``rho(J_N) / rate`` at
      most ``NONLINEAR_MARGIN`` times the threshold) and ``rtol >= EXPONENTIAL_MIN_RTOL`` (tighter:
      the 5th-order Radau IIA needs far fewer steps, (b)): ``"etdrk4"`` when ``L`` is diagonal or
      (block-)circulant, or has at most ``SMALL_DENSE_MAX`` states (dense φ-functions); a larger
      banded ``L`` goes to (b) (Krylov φ-products were measured 15-50x slower than an implicit
      method with a banded LU on 1-D grids); ``"exprb43"`` (Krylov) for other sparse ``L``;
   b. otherwise implicit: ``"radau5"`` when ``n >= RADAU_MIN_STATES`` (it reuses the Jacobian
      and its LU over many steps; Rodas5P needs both every step) or ``rtol <= RADAU_RTOL``
      (stage order 3: no order reduction at tight tolerances); ``"rodas5p"`` otherwise.
4. **Not stiff**: ``"tsit5"``, or ``"dop853"`` when ``rtol < TIGHT_RTOL``.

>>> EXPONENTIAL
('etdrk4', 'exprb43', 'expms')
>>> METHODS["rodas5p"]
'implicit'
"""
from __future__ import annotations

TSIT5 = "tsit5"
DOP853 = "dop853"
RODAS5P = "rodas5p"
RADAU5 = "radau5"
ETDRK4 = "etdrk4"
EXPRB43 = "exprb43"
EXPMS = "expms"
YOSHIDA4 = "yoshida4"
VERLET = "verlet"

EXPLICIT = (TSIT5, DOP853)
IMPLICIT = (RODAS5P, RADAU5)
EXPONENTIAL = (ETDRK4, EXPRB43, EXPMS)
SYMPLECTIC = (YOSHIDA4, VERLET)

#: every name the analysis can recommend, with its family
METHODS = {
    **{m: "explicit" for m in EXPLICIT},
    **{m: "implicit" for m in IMPLICIT},
    **{m: "exponential" for m in EXPONENTIAL},
    **{m: "symplectic" for m in SYMPLECTIC},
}

#: explicit: below this rtol the 8th-order DOP853 beats the 5th-order Tsit5
TIGHT_RTOL = 1e-7
#: exponential: rho(L) must be at least this multiple of rho(J_N) at every sample
LINEAR_DOMINANCE = 2.0
#: exponential: N's own stiffness ratio may exceed the threshold by this factor.  An exponential
#: step costs no Jacobian, LU or Newton iteration, so it still beats an implicit method when N's
#: stability forces a few times more steps than accuracy; chemical kinetics (HIRES: 17x the
#: threshold, POLLU: 480x) stay implicit, method-of-lines PDEs (Burgers at nu = 0.01 on 399 points:
#: 1.6x) go exponential
NONLINEAR_MARGIN = 4.0
#: exponential: only at rtol >= this.  Measured (KS with N = 256 finite-difference points,
#: banded Jacobian, t = 30 and 150, bench_structure 2026-12-03): ETDRK4 (Cox-Matthews, order 4,
#: less in the stiff regime) took 4-17x the steps of Radau IIA at the same rtol 1e-6 .. 1e-10 and
#: 1.3-4.7x its time (t = 150: similar errors; t = 30: ETDRK4's 5-8x smaller); at 1e-3 .. 1e-5
#: ETDRK4 took 0.46-1.07x Radau5's time.  Kept at 1e-6 inclusive (the default rtol): exponential there
EXPONENTIAL_MIN_RTOL = 1e-6
#: exponential: ETDRK4 with dense phi-functions of L up to this many states
SMALL_DENSE_MAX = 200
#: scalar(t): integral of |a(t)| over the window at least this: the integrating factor
#: exp(int a) then differs from 1 by at least e^(1/2) - 1 = 65%, a leading-order effect
SCALAR_MIN_GAIN = 0.5
#: implicit: Radau IIA from this many states (Jacobian and LU reuse)
RADAU_MIN_STATES = 100
#: implicit: Radau IIA at and below this rtol.  Measured with the numba steppers
#: (benchmarks/results/solvers.json, 2026-12-03): at rtol 1e-6 Radau5 took 0.29 / 0.34 / 0.14 ms on
#: HIRES / VDPOL / ROBER against Rodas5P's 0.41 / 0.45 / 0.13 ms at similar or larger error
#: (POLLU: 0.92 vs 0.79 ms); at 1e-7 and 1e-8 Radau5 was faster on all four; at 1e-5 they were
#: within 20%.  With the emitted loops (bbe5bef), at rtol 1e-6, time and error: VDPOL Radau5
#: 0.102 ms / 7.8e-8 against Rodas5P 0.139 ms / 7.7e-7, HIRES 0.084 / 5.0e-7 against 0.093 /
#: 1.9e-7, ROBER 0.038 / 8.6e-8 against 0.034 / 3.7e-7, POLLU 0.141 / 2.0e-7 against 0.103 /
#: 2.0e-8 (Rodas5P faster and more accurate: POLLU is the exception); at 1e-8 Radau5 is as fast
#: or faster on all four -- the rule stands
RADAU_RTOL = 1e-6


def _g(x) -> str:
    return f"{x:.3g}"


def choose(a) -> tuple[str, list[str]]:
    """``(method, reasons)`` for an :class:`~symdyn.analysis.Analysis` ``a`` (its facts only).

    >>> import symdyn as sd
    >>> m = sd.Model("decay"); x = m.states("x", init=1.0); m.eq(sd.D(x), -x)
    >>> choose(sd.analyze(m, t_span=(0.0, 1.0)))[0]
    'tsit5'
    """
    reasons: list[str] = []
    ratio, thr = a.stiffness_ratio, a.stiffness_threshold
    stiff_sentence = (
        f"stiffness ratio {_g(ratio)} (fastest decay rate {_g(a.decay_rate)} / solution rate "
        f"{_g(a.solution_rate)}) {'>' if a.stiff else '<='} {_g(thr)}, the ratio at which stability, not "
        f"accuracy, limits an explicit step at rtol {a.rtol:g}"
    )

    if a.hamiltonian:
        q = [a.state_names[i] for i in a.q_indices]
        shown = ", ".join(q[:4]) + (", ..." if len(q) > 4 else "")
        reasons.append(
            f"separable second-order structure: D(q) = v for {len(q)} position(s) ({shown}), D(v) = F(q) free "
            "of the velocities and of t, dF/dq symmetric at every sampled state (F = -grad V): a symplectic "
            "method keeps the energy error bounded over long times"
        )
        if a.max_frequency:
            reasons.append(
                f"fastest frequency sqrt(rho(dF/dq)) = {_g(a.max_frequency)}: fixed steps must satisfy "
                f"h < {_g(2 / a.max_frequency)} (Stormer-Verlet stability)"
            )
        return YOSHIDA4, reasons
    if a.second_order:
        reasons.append("second-order structure q' = v, v' = F(q) found, but dF/dq is not symmetric: "
                       "not Hamiltonian, no symplectic method")

    if a.L_structure == "scalar(t)":
        gain = a.scalar_gain
        window = f"t in [{_g(a.window[0])}, {_g(a.window[1])}]"
        if gain >= SCALAR_MIN_GAIN and not a.nonlinear_stiff:
            reasons.append(
                f"L = a(t) I with a(t) = {a.L}: integral of |a(t)| over {window} is {_g(gain)} >= "
                f"{SCALAR_MIN_GAIN:g}; the exponential multistep method integrates the linear part exactly "
                "and extrapolates N (as DEIS / DPM-Solver), one evaluation of N per step"
            )
            reasons.append(
                f"N is not stiff: rho(J_N) up to {_g(a.nonlinear_radius)}, its stiffness ratio "
                f"{_g(a.nonlinear_stiffness_ratio)} <= {NONLINEAR_MARGIN:g} x {_g(thr)}; expms takes fixed steps "
                "(no error control): "
                "give it a budget of steps"
            )
            return EXPMS, reasons
        if gain >= SCALAR_MIN_GAIN:
            reasons.append(f"L = a(t) I, but N is stiff itself (stiffness ratio {_g(a.nonlinear_stiffness_ratio)} "
                           f"> {NONLINEAR_MARGIN:g} x {_g(thr)}): an exponential method explicit in N would be "
                           "unstable")
        else:
            reasons.append(f"L = a(t) I but integral of |a(t)| over {window} is only {_g(gain)} < "
                           f"{SCALAR_MIN_GAIN:g}: the linear part hardly acts, no exponential method")

    reasons.append(stiff_sentence)
    if not a.stiff:
        if a.rtol < TIGHT_RTOL:
            reasons.append(f"not stiff, rtol {a.rtol:g} < {TIGHT_RTOL:g}: the 8th-order explicit DOP853")
            return DOP853, reasons
        reasons.append(f"not stiff, rtol {a.rtol:g} >= {TIGHT_RTOL:g}: the 5th-order explicit Tsit5")
        return TSIT5, reasons

    if a.semilinear and a.L_structure != "scalar(t)":
        dom = (f"rho(L) = {_g(a.L_radius)} is {_g(a.dominance)} x rho(J_N) = {_g(a.nonlinear_radius)} "
               f"(needed: {LINEAR_DOMINANCE:g} x)")
        nstiff = (f"the nonlinear part's own stiffness ratio is {_g(a.nonlinear_stiffness_ratio)} "
                  f"({'>' if a.nonlinear_stiff else '<='} {NONLINEAR_MARGIN:g} x {_g(thr)})")
        if a.linear_dominates and not a.nonlinear_stiff and a.rtol < EXPONENTIAL_MIN_RTOL:
            reasons.append(f"semilinear with L {a.L_structure}: {dom}, and {nstiff}; but at rtol {a.rtol:g} < "
                           f"{EXPONENTIAL_MIN_RTOL:g} the 4th-order exponential integrators need several times the "
                           "steps of the 5th-order Radau IIA (measured 4-17x on finite-difference KS): implicit")
        elif a.linear_dominates and not a.nonlinear_stiff:
            reasons.append(f"semilinear with L {a.L_structure}: {dom}, and {nstiff}: the stiffness is in L, "
                           "which an exponential integrator treats exactly")
            if a.L_structure in ("diagonal", "circulant", "block_circulant"):
                how = "elementwise" if a.L_structure == "diagonal" else "elementwise in Fourier space (FFT)"
                reasons.append(f"L is {a.L_structure}: its phi-functions are computed {how}: ETDRK4")
                return ETDRK4, reasons
            if a.n <= SMALL_DENSE_MAX:
                reasons.append(f"n = {a.n} <= {SMALL_DENSE_MAX}: ETDRK4 with dense phi-functions of L")
                return ETDRK4, reasons
            if a.L_structure == "banded":
                reasons.append(f"but L is banded (bandwidths {a.bandwidths}) with n = {a.n} > {SMALL_DENSE_MAX}: "
                               "an exponential method would need Krylov phi-products, measured 15-50x slower "
                               "than an implicit method with a banded LU on 1-D grids; implicit instead")
            else:
                reasons.append(f"L is {a.L_structure} with n = {a.n} > {SMALL_DENSE_MAX} and not diagonalised "
                               "by the FFT: exponential Rosenbrock with Krylov phi-function products (exprb43)")
                return EXPRB43, reasons
        else:
            why = dom + (" (not enough)" if not a.linear_dominates else "") + "; " + nstiff
            reasons.append(f"semilinear, but an exponential method would not remove the stiffness: {why}")

    if a.n >= RADAU_MIN_STATES:
        reasons.append(f"stiff with n = {a.n} >= {RADAU_MIN_STATES}: Radau IIA reuses the Jacobian and its LU "
                       "over many steps (Rodas5P needs both every step)")
        return RADAU5, reasons
    if a.rtol <= RADAU_RTOL:
        reasons.append(f"stiff at rtol {a.rtol:g} <= {RADAU_RTOL:g}: Radau IIA (stage order 3, no order "
                       "reduction at tight tolerances; Jacobian and LU reused over steps)")
        return RADAU5, reasons
    reasons.append(f"stiff, n = {a.n} < {RADAU_MIN_STATES}, rtol {a.rtol:g} > {RADAU_RTOL:g}: Rodas5P "
                   "(one LU per step, no Newton iteration)")
    return RODAS5P, reasons
