"""Problem POLLU (chemical part of an air pollution model) of the Bari IVP test set.

Sources: J. G. Verwer, "Gauss-Seidel iteration for stiff ODEs from chemical kinetics",
SIAM J. Sci. Comput. 15 (1994) 1243-1250; F. Mazzia and C. Magherini, "Test Set for
Initial Value Problem Solvers, release 2.4", Report 4/2008, Department of Mathematics,
University of Bari (2008), Part II, Sect. 2 (Tables II.2.1-II.2.4): 20 species, 25
reactions with rates r1..r25 (observed quantities here), 0 <= t <= 60.  The report
notes that k3 = 0.123e5 corrects a typing error in Verwer (1994).
"""
import symdyn as sd

from ._common import merge_params, testset_reference

T_SPAN = (0.0, 60.0)

#: the species y1..y20
SPECIES = (
    "NO2", "NO", "O3P", "O3", "HO2", "OH", "HCHO", "CO", "ALD", "MEO2",
    "C2O3", "CO2", "PAN", "CH3O", "HNO3", "O1D", "SO2", "SO4", "NO3", "N2O5",
)

#: the rate constants k1..k25 (report Table II.2.1)
DEFAULTS = {
    "k1": 0.35, "k2": 0.266e2, "k3": 0.123e5, "k4": 0.86e-3, "k5": 0.82e-3,
    "k6": 0.15e5, "k7": 0.13e-3, "k8": 0.24e5, "k9": 0.165e5, "k10": 0.9e4,
    "k11": 0.22e-1, "k12": 0.12e5, "k13": 0.188e1, "k14": 0.163e5, "k15": 0.48e7,
    "k16": 0.35e-3, "k17": 0.175e-1, "k18": 0.1e9, "k19": 0.444e12, "k20": 0.124e4,
    "k21": 0.21e1, "k22": 0.578e1, "k23": 0.474e-1, "k24": 0.178e4, "k25": 0.312e1,
}

#: nonzero initial concentrations (1-based species index -> value)
_INIT = {2: 0.2, 4: 0.04, 7: 0.1, 8: 0.3, 9: 0.01, 17: 0.007}

def build(**params) -> sd.Model:
    """The 20-species, 25-reaction POLLU model; keywords ``k1``..``k25`` override rate constants.

    >>> build().n_states
    20
    """
    values = merge_params(DEFAULTS, params)
    m = sd.Model("pollu")
    y = (None,) + m.states(
        [f"y{i}" for i in range(1, 21)], init=[_INIT.get(i, 0.0) for i in range(1, 21)]
    )
    k = (None,) + m.params(list(values), values=list(values.values()))
    # the reaction rates, as printed in the report
    r = [None] + [
        m.observed("r1", k[1] * y[1]),
        m.observed("r2", k[2] * y[2] * y[4]),
        m.observed("r3", k[3] * y[5] * y[2]),
        m.observed("r4", k[4] * y[7]),
        m.observed("r5", k[5] * y[7]),
        m.observed("r6", k[6] * y[7] * y[6]),
        m.observed("r7", k[7] * y[9]),
        m.observed("r8", k[8] * y[9] * y[6]),
        m.observed("r9", k[9] * y[11] * y[2]),
        m.observed("r10", k[10] * y[11] * y[1]),
        m.observed("r11", k[11] * y[13]),
        m.observed("r12", k[12] * y[10] * y[2]),
        m.observed("r13", k[13] * y[14]),
        m.observed("r14", k[14] * y[1] * y[6]),
        m.observed("r15", k[15] * y[3]),
        m.observed("r16", k[16] * y[4]),
        m.observed("r17", k[17] * y[4]),
        m.observed("r18", k[18] * y[16]),
        m.observed("r19", k[19] * y[16]),
        m.observed("r20", k[20] * y[17] * y[6]),
        m.observed("r21", k[21] * y[19]),
        m.observed("r22", k[22] * y[19]),
        m.observed("r23", k[23] * y[1] * y[4]),
        m.observed("r24", k[24] * y[19] * y[1]),
        m.observed("r25", k[25] * y[20]),
    ]
    # the right-hand sides f1..f20
    f = {
        1: -r[1] - r[10] - r[14] - r[23] - r[24]
           + r[2] + r[3] + r[9] + r[11] + r[12] + r[22] + r[25],
        2: -r[2] - r[3] - r[9] - r[12] + r[1] + r[21],
        3: -r[15] + r[1] + r[17] + r[19] + r[22],
        4: -r[2] - r[16] - r[17] - r[23] + r[15],
        5: -r[3] + 2 * r[4] + r[6] + r[7] + r[13] + r[20],
        6: -r[6] - r[8] - r[14] - r[20] + r[3] + 2 * r[18],
        7: -r[4] - r[5] - r[6] + r[13],
        8: r[4] + r[5] + r[6] + r[7],
        9: -r[7] - r[8],
        10: -r[12] + r[7] + r[9],
        11: -r[9] - r[10] + r[8] + r[11],
        12: r[9],
        13: -r[11] + r[10],
        14: -r[13] + r[12],
        15: r[14],
        16: -r[18] - r[19] + r[16],
        17: -r[20],
        18: r[20],
        19: -r[21] - r[22] - r[24] + r[23] + r[25],
        20: -r[25] + r[24],
    }
    for i in range(1, 21):
        m.eq(sd.D(y[i]), f[i])
    return m


def reference():
    """The published reference state at ``T_SPAN[1]``, as a float array."""
    return testset_reference("POLLU")
