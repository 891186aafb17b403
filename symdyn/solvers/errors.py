"""Errors raised by the solvers for unusable arguments -- always before any native call.

A solve that starts but fails (blow-up, NaN, too many steps, a singular matrix) does not
raise: it returns a :class:`~symdyn.solvers.solution.Solution` whose ``retcode`` says what
happened and whose ``message`` says what to try.
"""
from ..errors import ArgumentError, DTypeError, ShapeError

__all__ = [
    "ArgumentError", "DTypeError", "ShapeError", "TimeSpanError", "ToleranceError", "SaveatError",
    "NonFiniteValueError", "UnknownMethodError", "MissingFunctionError", "OptionError",
]


class TimeSpanError(ArgumentError):
    def __init__(self, t_span, why):
        self.t_span = t_span
        super().__init__(f"t_span={t_span!r}: {why}; pass (t0, t_end) with finite t0 < t_end")


class ToleranceError(ArgumentError):
    def __init__(self, arg, value, why):
        self.arg, self.value = arg, value
        super().__init__(f"{arg}={value!r}: {why}")


class SaveatError(ArgumentError):
    def __init__(self, why):
        super().__init__(f"saveat: {why}")


class NonFiniteValueError(ArgumentError):
    def __init__(self, arg, index, value):
        self.arg, self.index, self.value = arg, index, value
        super().__init__(f"{arg}[{index}] = {value!r} is not finite; the solver needs finite numbers")


class UnknownMethodError(ArgumentError):
    def __init__(self, method, known):
        self.method = method
        super().__init__(f"unknown method {method!r}; known: {', '.join(known)}")


class MissingFunctionError(ArgumentError):
    def __init__(self, name, method, have):
        self.name, self.method = name, method
        super().__init__(
            f"method {method!r} needs the native function {name!r}, but addresses has only "
            f"{', '.join(sorted(have)) or 'nothing'}"
        )


class OptionError(ArgumentError):
    def __init__(self, arg, value, why):
        self.arg, self.value = arg, value
        super().__init__(f"{arg}={value!r}: {why}")
