"""The exception hierarchy of symdyn.

Every error names its culprit (the symbol, equation or argument at fault) and, where
there is one, the fix.  All derive from :class:`SymdynError`, so ``except
sd.errors.SymdynError`` catches everything symdyn raises on purpose.

Example
-------
>>> import symdyn as sd
>>> m = sd.Model("m"); x = m.states("x", init=1.0)
>>> try:
...     sd.compile(m)
... except sd.errors.MissingEquationError as e:
...     print(e.state)
x
"""


class SymdynError(Exception):
    """Base class of every error symdyn raises on purpose."""


# --- model definition -------------------------------------------------------------
class ModelError(SymdynError):
    """The model as written is not a well-posed ODE system."""


class DuplicateNameError(ModelError):
    def __init__(self, name, kind_before, kind_now):
        self.name = name
        super().__init__(
            f"name {name!r} is already used by a {kind_before}; cannot declare it again as a {kind_now}"
        )


class InvalidNameError(ModelError):
    def __init__(self, name, why):
        self.name = name
        super().__init__(f"invalid name {name!r}: {why}")


class MissingEquationError(ModelError):
    def __init__(self, state):
        self.state = str(state)
        super().__init__(
            f"state {self.state!r} has no equation; add m.eq(sd.D({self.state}), ...)"
        )


class DuplicateEquationError(ModelError):
    def __init__(self, state, first, second):
        self.state = str(state)
        super().__init__(
            f"state {self.state!r} has two equations: D({self.state}) = {first} and "
            f"D({self.state}) = {second}"
        )


class NotAStateError(ModelError):
    def __init__(self, target, rhs):
        self.target = str(target)
        super().__init__(
            f"equation D({self.target}) = {rhs}: {self.target!r} is not a state of this model "
            "(declare it with m.states(...))"
        )


class UndefinedSymbolError(ModelError):
    def __init__(self, symbol, equation, same_name_kind=None):
        self.symbol = str(symbol)
        self.equation = str(equation)
        hint = ""
        if same_name_kind:
            hint = (f"; this model has a {same_name_kind} named {self.symbol!r}, but this is a different "
                    "SymPy symbol (other assumptions): use the symbol the model returned, or m.t for time")
        super().__init__(
            f"symbol {self.symbol!r} in {self.equation} is not a state, parameter, observed "
            f"quantity or the time of this model{hint}"
        )


class InvalidValueError(ModelError):
    def __init__(self, name, value, why):
        self.name = str(name)
        self.value = value
        super().__init__(f"value {value!r} for {self.name!r}: {why}")


class MissingValueError(ModelError):
    def __init__(self, names, kind):
        self.names = [str(n) for n in names]
        super().__init__(
            f"no value for {kind} {', '.join(map(repr, self.names))}: give one when declaring it "
            "or pass it in the call"
        )


class CyclicObservedError(ModelError):
    def __init__(self, names):
        self.names = [str(n) for n in names]
        super().__init__(f"observed quantities depend on each other in a cycle: {' -> '.join(self.names)}")


# --- tracing numeric functions ----------------------------------------------------
class TraceError(SymdynError):
    """A numeric function could not be turned into symbolic equations."""


class BranchOnStateError(TraceError):
    def __init__(self, condition):
        self.condition = str(condition)
        super().__init__(
            f"the traced function branches on the state (it asked whether {self.condition} is true); "
            "a branch cannot be traced symbolically — use np.where(cond, a, b) on elements (u[i]), "
            "np.maximum/np.minimum or np.abs instead of if/else"
        )


# --- code generation ----------------------------------------------------------------
class DifferentiationError(ModelError):
    """An equation's right-hand side has no symbolic derivative (needed for the Jacobian)."""


class CodegenError(SymdynError):
    """An expression cannot be compiled to native code."""


class UnsupportedNodeError(CodegenError):
    def __init__(self, node, where):
        self.node = node
        self.where = where
        super().__init__(
            f"cannot compile {type(node).__name__} (in {node}) found in {where}: "
            "it is not in symdyn's table of supported functions"
        )


# --- calling compiled functions ---------------------------------------------------------
class ArgumentError(SymdynError, ValueError):
    """An argument passed to a compiled function or a solver is unusable."""


class ShapeError(ArgumentError):
    def __init__(self, arg, expected, got):
        self.arg, self.expected, self.got = arg, expected, got
        super().__init__(f"argument {arg!r} must have shape {expected}, got shape {got}")


class DTypeError(ArgumentError):
    def __init__(self, arg, got):
        self.arg, self.got = arg, got
        super().__init__(
            f"argument {arg!r} must have dtype float64, got {got}; convert with np.asarray(x, dtype=float)"
        )


class LayoutError(ArgumentError):
    def __init__(self, arg):
        self.arg = arg
        super().__init__(
            f"argument {arg!r} must be a contiguous array; pass np.ascontiguousarray(x)"
        )


class UnknownNameError(ArgumentError, KeyError):
    def __init__(self, name, kind, known):
        self.name = name
        super().__init__(f"{name!r} is not a {kind} of this model; known: {', '.join(known)}")

    def __str__(self):  # KeyError would quote the message
        return self.args[0]


class ModelFileError(SymdynError):
    """A model file given to the command line cannot be used."""


# --- structure analysis (symdyn.analysis) ------------------------------------------------
class AnalysisError(SymdynError):
    """The structure analysis of a model cannot be completed as asked."""


class AnalysisArgumentError(AnalysisError, ArgumentError):
    def __init__(self, arg, value, why):
        self.arg, self.value = arg, value
        super().__init__(f"analyze(): argument {arg!r} = {value!r}: {why}")


class NonFiniteCoefficientError(AnalysisError):
    def __init__(self, where, coeff, value):
        self.where, self.coeff = str(where), coeff
        super().__init__(
            f"the linear coefficient {coeff} in {self.where} is not a finite real number at the "
            f"parameter values ({value}); check the parameter values (analyze(model, p=...))"
        )


class NonFiniteJacobianError(AnalysisError):
    def __init__(self, entry, value, where):
        self.entry, self.value = str(entry), value
        super().__init__(
            f"the Jacobian entry {self.entry} is {value} at {where}; the stiffness analysis needs a "
            "finite Jacobian at the initial state (change the initial values or the parameters)"
        )


class NotSemilinearError(AnalysisError):
    def __init__(self, model_name, what):
        self.model = str(model_name)
        super().__init__(
            f"model {self.model!r} has no linear part L (no term of a right-hand side is a state times "
            f"a state-free coefficient), so there is no {what}"
        )


# --- discovery of equations from data (symdyn.discover) --------------------------------------
class DiscoveryError(SymdynError):
    """Equations cannot be discovered from the data as given."""


class DiscoveryArgumentError(DiscoveryError, ArgumentError):
    def __init__(self, arg, value, why):
        self.arg, self.value = arg, value
        super().__init__(f"discover: argument {arg!r} {why} (got {value!r})")


class NonFiniteDataError(DiscoveryError, ArgumentError):
    def __init__(self, arg, index):
        self.arg, self.index = arg, index
        super().__init__(
            f"discover: argument {arg!r} has a NaN or infinite value at index {index}; "
            "remove or interpolate missing samples before discovery"
        )


class TooFewSamplesError(DiscoveryError, ArgumentError):
    def __init__(self, arg, n_samples, needed, why, fix="give more samples", unit="samples"):
        self.arg, self.n_samples, self.needed = arg, n_samples, needed
        super().__init__(
            f"discover: argument {arg!r} gives {n_samples} {unit} but at least {needed} are needed "
            f"({why}); {fix}"
        )


class NonUniformGridError(DiscoveryError, ArgumentError):
    def __init__(self, arg, ratio, what):
        self.arg, self.ratio = arg, ratio
        super().__init__(
            f"discover: argument {arg!r} is not uniformly spaced (largest/smallest step = {ratio:.3g}); "
            f"{what}"
        )


class LibraryError(DiscoveryError):
    def __init__(self, term, why):
        self.term = str(term)
        super().__init__(f"discover: library term {self.term}: {why}")


class NoModelFoundError(DiscoveryError):
    def __init__(self, state, why):
        self.state = str(state)
        super().__init__(f"discover: no equation found for D({self.state}): {why}")
