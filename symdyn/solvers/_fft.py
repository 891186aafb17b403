"""Small FFTs for the native kernels: real data to a spectrum and back, any length.

The exponential integrators diagonalise a circulant ``L`` by the discrete Fourier transform and
need transforms inside the native time loop.  A *plan* (:func:`make_plan`, built once per solve
in Python) is a tuple of arrays; :func:`to_spec` and :func:`to_real` use it without allocating.

Layouts of the spectrum (``plan[0][0]``):

- ``IDENT``: no transform (diagonal ``L``): ``spec = x + 0j``, ``x = Re(spec)``;
- ``RFFT`` (even ``n``): the ``n//2 + 1`` non-negative frequencies ``X_0 .. X_{n/2}`` of
  ``X_k = sum_j x_j e^{-2 pi i jk/n}`` (as ``numpy.fft.rfft``), computed from one complex FFT
  of length ``n/2`` of ``x_{2j} + i x_{2j+1}`` (the standard split; e.g. Press et al.,
  *Numerical Recipes*, Sec. 12.3);
- ``FULL`` (odd ``n``): all ``n`` frequencies (as ``numpy.fft.fft``); the inverse keeps the
  real part;
- ``EIG``: a general basis, ``spec = Vinv @ x`` and ``x = Re(V @ spec)`` (dense, for a
  diagonalisable dense ``L = V diag(lam) Vinv``), by BLAS ``zgemv`` (``np.dot``): for 199
  states a pair of transforms took 58 us as loops and 16 us by BLAS, and ETDRK4 on Allen-Cahn
  went from 9.0 to 3.1 ms at rtol 1e-6;
- ``EIGR``: a real orthogonal basis (symmetric ``L = V diag(lam) V^T``, ``numpy.linalg.eigh``):
  ``spec = V^T x`` and ``x = V Re(spec)`` by BLAS ``dgemv`` into the plan's real work vectors,
  a quarter of the flops of ``EIG`` and no allocation.

The complex FFT is iterative radix-2 Cooley--Tukey when its length is a power of two and
Bluestein's chirp-z algorithm (a convolution done by power-of-two FFTs of length ``M >= 2m-1``;
Bluestein, *IEEE Trans. Audio Electroacoust.* 18 (1970) 451--455) otherwise.
"""
import math

import numba
import numpy as np

IDENT, RFFT, FULL, EIG, EIGR = 0, 1, 2, 3, 4


def _is_pow2(m):
    return m >= 1 and (m & (m - 1)) == 0


def _radix2_tables(M):
    """Twiddles ``e^{-2 pi i k/M}`` (k < M/2) and the bit-reversal permutation of length ``M``."""
    tw = np.exp(-2j * np.pi * np.arange(max(M // 2, 1)) / M)
    bits = int(round(math.log2(M))) if M > 1 else 0
    rev = np.zeros(M, np.int64)
    for i in range(M):
        r = 0
        x = i
        for _ in range(bits):
            r = (r << 1) | (x & 1)
            x >>= 1
        rev[i] = r
    return tw, rev


def make_plan(n, layout, V=None, Vinv=None, blocks=1):
    """The plan for real vectors of length ``n`` in ``layout`` (IDENT, RFFT, FULL, EIG or EIGR).

    Returns ``(meta, tw, rev, chirp, bhat, rtw, work, work2, V, Vinv, Vr, VrT, rwork, rwork2)``:
    ``meta = [layout, n, m, M, use_bluestein, blocks]`` with ``m`` the complex FFT length and
    ``M`` the radix-2 length; ``V, Vinv`` (EIG, complex) or ``Vr, VrT`` (EIGR: ``V`` real
    orthogonal and its transpose, C-contiguous) and ``rwork, rwork2`` (EIGR's real work vectors)
    are empty for the other layouts.  With ``blocks = b > 1`` (RFFT/FULL only) vectors have length ``b*n`` and each
    block of ``n`` is transformed on its own (block-circulant ``L``); the spectrum is the
    blocks' spectra one after the other.
    """
    if blocks > 1 and layout not in (RFFT, FULL):
        raise ValueError("blocks need the RFFT or FULL layout")
    c0 = np.zeros(0, np.complex128)
    z2 = np.zeros((0, 0), np.complex128)
    if layout in (IDENT, EIG, EIGR):
        m = M = 0
        blue = 0
        tw, rev, chirp, bhat, rtw = c0, np.zeros(0, np.int64), c0, c0, c0
    else:
        if layout == RFFT:
            if n % 2:
                raise ValueError("RFFT layout needs an even length")
            m = n // 2
            k = np.arange(m + 1)
            rtw = np.exp(-2j * np.pi * k / n)
        else:
            m = n
            rtw = c0
        blue = 0 if _is_pow2(m) else 1
        if blue:
            M = 1
            while M < 2 * m - 1:
                M *= 2
            j = np.arange(m)
            chirp = np.exp(-1j * np.pi * ((j * j) % (2 * m)) / m)  # e^{-pi i j^2/m}, exact reduction
            b = np.zeros(M, np.complex128)
            b[:m] = np.conj(chirp)
            b[M - m + 1:] = np.conj(chirp[1:])[::-1]
            bhat = np.fft.fft(b)
        else:
            M = m
            chirp, bhat = c0, c0
        tw, rev = _radix2_tables(M)
    work = np.zeros(max(M, m, n, 1), np.complex128)
    work2 = np.zeros(max(M, m, n, 1), np.complex128)
    r2 = np.zeros((0, 0))
    r1 = np.zeros(0)
    Vr, VrT, rwork, rwork2 = r2, r2, r1, r1
    if layout == EIG:
        V = np.ascontiguousarray(V, dtype=np.complex128)
        Vinv = np.ascontiguousarray(Vinv, dtype=np.complex128)
    elif layout == EIGR:  # V real orthogonal; Vinv, if given, its transpose (C-contiguous)
        Vr = np.ascontiguousarray(V, dtype=np.float64)
        VrT = np.ascontiguousarray(Vinv if Vinv is not None else Vr.T, dtype=np.float64)
        rwork, rwork2 = np.zeros(n), np.zeros(n)
        V, Vinv = z2, z2
    else:
        V, Vinv = z2, z2
    meta = np.array([layout, n, m, M, blue, blocks], np.int64)
    return (meta, tw, rev, chirp, bhat, rtw, work, work2, V, Vinv, Vr, VrT, rwork, rwork2)


def spectrum_length(n, layout, blocks=1):
    return blocks * (n // 2 + 1 if layout == RFFT else n)


@numba.njit(cache=True)
def _fft_pow2(a, M, tw, rev, inverse):
    """In-place unnormalised DFT of ``a[:M]`` (``M`` a power of two); sign + when ``inverse``."""
    for i in range(M):
        j = rev[i]
        if j > i:
            tmp = a[i]
            a[i] = a[j]
            a[j] = tmp
    size = 2
    while size <= M:
        half = size // 2
        step = M // size
        for start in range(0, M, size):
            for k in range(half):
                w = tw[k * step]
                if inverse:
                    w = w.conjugate()
                x = a[start + k]
                y = a[start + k + half] * w
                a[start + k] = x + y
                a[start + k + half] = x - y
        size *= 2


@numba.njit(cache=True)
def _cfft(plan, a, inverse):
    """In-place unnormalised DFT of ``a[:m]`` with the plan's length ``m``."""
    meta, tw, rev, chirp, bhat, rtw, work, work2 = plan[:8]
    m = meta[2]
    M = meta[3]
    if meta[4] == 0:
        _fft_pow2(a, M, tw, rev, inverse)
        return
    # Bluestein: X_k = c_k sum_j (x_j c_j) conj(c_{k-j}), c_j = e^{-pi i j^2/m}; inverse by conjugation
    for j in range(m):
        x = a[j].conjugate() if inverse else a[j]
        work2[j] = x * chirp[j]
    for j in range(m, M):
        work2[j] = 0.0
    _fft_pow2(work2, M, tw, rev, False)
    for j in range(M):
        work2[j] *= bhat[j]
    _fft_pow2(work2, M, tw, rev, True)
    inv_m = 1.0 / M
    for k in range(m):
        y = work2[k] * inv_m * chirp[k]
        a[k] = y.conjugate() if inverse else y


@numba.njit(cache=True)
def to_spec(plan, x, out):
    """``out`` = the spectrum of the real vector ``x`` in the plan's layout (block by block)."""
    meta = plan[0]
    blocks = meta[5]
    if blocks == 1:
        _to_spec1(plan, x, out)
        return
    n = meta[1]
    sl = n // 2 + 1 if meta[0] == 1 else n
    for b in range(blocks):
        _to_spec1(plan, x[b * n:(b + 1) * n], out[b * sl:(b + 1) * sl])


@numba.njit(cache=True)
def to_real(plan, spec, out):
    """``out`` = the real vector whose spectrum is ``spec`` (``spec`` is not changed)."""
    meta = plan[0]
    blocks = meta[5]
    if blocks == 1:
        _to_real1(plan, spec, out)
        return
    n = meta[1]
    sl = n // 2 + 1 if meta[0] == 1 else n
    for b in range(blocks):
        _to_real1(plan, spec[b * sl:(b + 1) * sl], out[b * n:(b + 1) * n])


@numba.njit(cache=True)
def _to_spec1(plan, x, out):
    """One block: ``out`` = the spectrum of ``x``."""
    meta = plan[0]
    layout = meta[0]
    n = meta[1]
    if layout == 0:  # IDENT
        for i in range(n):
            out[i] = x[i]
    elif layout == 1:  # RFFT
        m = meta[2]
        rtw = plan[5]
        z = plan[6]
        for j in range(m):
            z[j] = complex(x[2 * j], x[2 * j + 1])
        _cfft(plan, z, False)
        z0 = z[0]
        out[0] = z0.real + z0.imag
        out[m] = z0.real - z0.imag
        for k in range(1, m):
            zk = z[k]
            zc = z[m - k].conjugate()
            e = 0.5 * (zk + zc)
            o = zk - zc  # = 2i * odd part
            out[k] = e + rtw[k] * complex(0.5 * o.imag, -0.5 * o.real)
    elif layout == 2:  # FULL
        for j in range(n):
            out[j] = x[j]
        _cfft(plan, out, False)
    elif layout == 4:  # EIGR: out = V^T x (dgemv)
        _gemv(plan[11], x, plan[12], plan[13], out)
    else:  # EIG: out = Vinv @ x (zgemv)
        _gemv(plan[9], x, plan[6], plan[7], out)


@numba.njit(cache=True, inline="always")  # array arguments: a call would cost refcounting
def _gemv(A, x, xw, yw, out):
    """``out = A @ x`` by BLAS (``np.dot``) through the work vectors ``xw``, ``yw`` of length n
    (the eigenbasis layouts allocate nothing per transform; ``x``/``out`` may be views or of
    another dtype than the work vectors)."""
    for j in range(xw.shape[0]):
        xw[j] = x[j]
    np.dot(A, xw, yw)
    for j in range(yw.shape[0]):
        out[j] = yw[j]


@numba.njit(cache=True)
def _to_real1(plan, spec, out):
    """One block: ``out`` = the real vector whose spectrum is ``spec``."""
    meta = plan[0]
    layout = meta[0]
    n = meta[1]
    if layout == 0:
        for i in range(n):
            out[i] = spec[i].real
    elif layout == 1:
        m = meta[2]
        rtw = plan[5]
        z = plan[6]
        for k in range(m):
            xk = spec[k]
            xc = spec[m - k].conjugate()
            e = 0.5 * (xk + xc)
            o = 0.5 * (xk - xc) * rtw[k].conjugate()
            z[k] = e + complex(-o.imag, o.real)  # e + i*o
        _cfft(plan, z, True)
        inv = 1.0 / m
        for j in range(m):
            out[2 * j] = z[j].real * inv
            out[2 * j + 1] = z[j].imag * inv
    elif layout == 2:
        z = plan[6]
        for j in range(n):
            z[j] = spec[j]
        _cfft(plan, z, True)
        inv = 1.0 / n
        for j in range(n):
            out[j] = z[j].real * inv
    elif layout == 4:  # EIGR: out = V Re(spec) (dgemv)
        _gemv(plan[10], spec.real, plan[12], plan[13], out)
    else:  # EIG: out = Re(V @ spec) (zgemv)
        y = plan[7]
        _gemv(plan[8], spec, plan[6], y, y)
        for i in range(n):
            out[i] = y[i].real
