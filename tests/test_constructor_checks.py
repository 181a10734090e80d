"""Bad input gets a clear error naming the problem, never a silent wrong number: potential and
descriptor constructors, potential files, descriptor features (unknown species, short
neighbor lists)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from ase.build import bulk, molecule

from jaxpot.descriptors import acsf, ani_aev, soap
from jaxpot.descriptors.soap import density_coefficients
from jaxpot.neighbors import allocate_neighbor_list
from jaxpot.potentials import eam, lennard_jones, morse, stillinger_weber, tersoff
from jaxpot.potentials.eam_files import read_eam_file
from jaxpot.potentials.stillinger_weber import PARAMETER_NAMES as SW_NAMES
from jaxpot.potentials.stillinger_weber import read_lammps_sw
from jaxpot.potentials.tersoff import PARAMETER_NAMES as TERSOFF_NAMES
from jaxpot.potentials.tersoff import read_lammps_tersoff
from jaxpot.structure import StructureError

jax.config.update("jax_enable_x64", True)
NAN, INF = float("nan"), float("inf")

# --------------------------------------------------------------------- pair potentials


@pytest.mark.parametrize("kwargs,match", [
    (dict(sigma=NAN), "sigma must be positive and finite, got nan"),
    (dict(sigma=-1.0), "sigma must be positive and finite, got -1.0"),
    (dict(sigma=0.0), "sigma must be positive and finite, got 0.0"),
    (dict(epsilon=INF), "epsilon must be finite, got inf"),
    (dict(epsilon=NAN), "epsilon must be finite, got nan"),
    (dict(cutoff=0.0), r"cutoff must be positive and finite \(Å\), got 0.0"),
    (dict(cutoff=-2.0), "cutoff must be positive and finite"),
    (dict(cutoff=INF), "cutoff must be positive and finite .*inf"),
    (dict(cutoff=NAN), "cutoff must be positive and finite .*nan"),
    (dict(cutoff=2.5, r_on=2.5, smooth=True), r"r_on must lie in \(0, cutoff\) = \(0, 2.5\)"),
    (dict(cutoff=2.5, r_on=-1.0, smooth=True), "r_on must be positive and finite"),
    (dict(cutoff=2.5, r_on=NAN, smooth=True), "r_on must be positive and finite"),
    (dict(sigma=[[1.0, 1.1], [1.1, NAN]], species=["Ar", "Kr"]),
     r"sigma\[1, 1\] must be positive and finite, got nan"),
    (dict(sigma="big"), "sigma must be a number"),
])
def test_lennard_jones_rejects_bad_parameters(kwargs, match):
    with pytest.raises(ValueError, match=match):
        lennard_jones(**{"sigma": 1.0, "epsilon": 1.0, **kwargs})


@pytest.mark.parametrize("kwargs,match", [
    (dict(epsilon=-0.5), "epsilon must be non-negative and finite, got -0.5"),
    (dict(epsilon=NAN), "epsilon must be non-negative and finite, got nan"),
    (dict(r0=0.0), "r0 must be positive and finite, got 0.0"),
    (dict(r0=INF), "r0 must be positive and finite, got inf"),
    (dict(rho0=NAN), "rho0 must be finite, got nan"),
    (dict(rcut1=0.0), "rcut1 must be positive and finite"),
    (dict(rcut2=INF), r"rcut2 must be positive and finite \(units of r0\), got inf"),
    (dict(rcut1=3.0, rcut2=2.0), "need 0 < rcut1 < rcut2, got rcut1=3.0, rcut2=2.0"),
    (dict(r0=[[1.0, 1.2], [1.2, -1.0]], species=["Cu", "Ni"]),
     r"r0\[1, 1\] must be positive and finite, got -1.0"),
])
def test_morse_rejects_bad_parameters(kwargs, match):
    with pytest.raises(ValueError, match=match):
        morse(**kwargs)


def test_valid_pair_parameters_still_build():
    assert lennard_jones(sigma=1.0, epsilon=-0.1, cutoff=2.5, smooth=True).cutoff == 2.5
    assert morse(epsilon=[[0.3, 0.0], [0.0, 0.5]], r0=2.5, species=["Cu", "Ni"]).cutoff > 0

# --------------------------------------------------------------------- three-body files


SW_SI = "Si Si Si 2.1683 2.0951 1.80 21.0 1.20 -0.333333333333 7.049556277 0.6022245584 4.0 0.0 0.0"
TERSOFF_SI = ("Si Si Si 3.0 1.0 1.3258 4.8381 2.0417 0.0 22.956 0.33675 1.3258 95.373 3.0 0.2 "
              "3.2394 3264.7")


def _with_field(line: str, index: int, value: str) -> str:
    words = line.split()
    words[3 + index] = value
    return " ".join(words) + "\n"


def assert_file_error(path, text, reader, factory, match):
    """Both the file reader (message prefixed with the path) and the model factory refuse."""
    path.write_text(text)
    with pytest.raises(ValueError, match=f"{path}: {match}"):
        reader(str(path))
    with pytest.raises(ValueError, match=match):
        factory(str(path))


@pytest.mark.parametrize("name,value,match", [
    ("sigma", "nan", "parameter sigma of triplet Si Si Si must be non-negative and finite, "
                     "got nan"),
    ("epsilon", "inf", "parameter epsilon of triplet Si Si Si must be non-negative and finite"),
    ("costheta0", "nan", "parameter costheta0 of triplet Si Si Si must be finite, got nan"),
    ("a", "-1.8", "parameter a of triplet Si Si Si must be non-negative and finite, got -1.8"),
    ("sigma", "0.0", r"parameter sigma of triplet Si Si Si must be positive on a pair entry"),
    ("lambda", "x21", "non-numeric lambda 'x21' in entry Si Si Si"),
])
def test_stillinger_weber_file_errors_name_file_entry_and_parameter(tmp_path, name, value, match):
    assert_file_error(tmp_path / "bad.sw", _with_field(SW_SI, SW_NAMES.index(name), value),
                      read_lammps_sw, stillinger_weber, match)


def test_stillinger_weber_params_dict_and_species_subset(tmp_path):
    params = {k: np.full((1, 1, 1), v) for k, v in zip(SW_NAMES, map(float, SW_SI.split()[3:]))}
    assert stillinger_weber(species=["Si"], params=params).cutoff == pytest.approx(1.8 * 2.0951)
    params["gamma"] = np.full((1, 1, 1), INF)
    with pytest.raises(ValueError, match="params: parameter gamma of triplet Si Si Si must be "
                                         "non-negative and finite, got inf"):
        stillinger_weber(species=["Si"], params=params)
    with pytest.raises(ValueError, match="missing"):
        stillinger_weber(species=["Si"], params={"sigma": np.ones((1, 1, 1))})
    with pytest.raises(ValueError, match="species"):
        stillinger_weber(str(_two_element_sw(tmp_path)), species=["Ge"])
    model = stillinger_weber(str(_two_element_sw(tmp_path)), species=["Si"])
    assert model.species == (14,)


def _two_element_sw(tmp_path):
    """Si-C file whose C entries differ from Si's (only the Si subset is Si.sw)."""
    lines = []
    for i in ("Si", "C"):
        for j in ("Si", "C"):
            for k in ("Si", "C"):
                words = SW_SI.split()
                words[:3] = [i, j, k]
                if "C" in (i, j, k):
                    words[4] = "1.5"  # sigma
                lines.append(" ".join(words))
    path = tmp_path / "sic.sw"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize("name,value,match", [
    ("R", "nan", "parameter R of triplet Si Si Si must be positive and finite, got nan"),
    ("R", "0", "parameter R of triplet Si Si Si must be positive and finite, got 0.0"),
    ("D", "-0.2", "parameter D of triplet Si Si Si must be non-negative and finite, got -0.2"),
    ("D", "3.5", r"parameter D of triplet Si Si Si must be <= R \(as in LAMMPS\), got 3.5"),
    ("A", "inf", "parameter A of triplet Si Si Si must be non-negative and finite, got inf"),
    ("h", "nan", "parameter h of triplet Si Si Si must be finite, got nan"),
    ("d", "0", "parameter d of triplet Si Si Si must be positive and finite, got 0.0"),
    ("n", "0", "parameter n of triplet Si Si Si must be positive on a pair entry"),
    ("m", "2", r"parameter m of triplet Si Si Si must be 1 or 3 \(as in LAMMPS\), got 2.0"),
    ("beta", "0.3.3", "non-numeric beta '0.3.3' in entry Si Si Si"),
])
def test_tersoff_file_errors_name_file_entry_and_parameter(tmp_path, name, value, match):
    assert_file_error(tmp_path / "bad.tersoff",
                      _with_field(TERSOFF_SI, TERSOFF_NAMES.index(name), value),
                      read_lammps_tersoff, tersoff, match)


def test_tersoff_params_dict_is_checked():
    params = {k: np.full((1, 1, 1), v) for k, v in
              zip(TERSOFF_NAMES, map(float, TERSOFF_SI.split()[3:]))}
    assert tersoff("", species=["Si"], params=params).cutoff == pytest.approx(3.2)
    params["lambda1"] = np.full((1, 1, 1), NAN)
    with pytest.raises(ValueError, match="params: parameter lambda1 of triplet Si Si Si"):
        tersoff("", species=["Si"], params=params)


def test_tersoff_step_cutoff_has_finite_forces_and_matches_lammps(tmp_path):
    """D = 0 (allowed by LAMMPS, used by SiC_1990.tersoff) is a step at R: finite forces, not
    NaN from the unused smooth branch, and LAMMPS's numbers."""
    from lammps_reference import lammps_evaluate, lammps_frame

    from jaxpot.mechanics import energy_forces_stress
    path = tmp_path / "step.tersoff"
    path.write_text(_with_field(TERSOFF_SI, TERSOFF_NAMES.index("D"), "0.0"))
    model = tersoff(str(path))
    atoms = lammps_frame(bulk("Si", "diamond", a=5.432, cubic=True))
    atoms.rattle(0.1, seed=1)
    nbrs = allocate_neighbor_list(atoms.positions, atoms.cell.array, True, cutoff=model.cutoff)
    res = energy_forces_stress(model, jnp.asarray(atoms.positions), jnp.asarray(atoms.cell.array),
                               jnp.asarray(atoms.numbers), nbrs)
    e, f, _, _ = lammps_evaluate(atoms, "tersoff", f"* * {path} Si", ["Si"])
    assert abs(float(res.energy) - e) <= 1e-12 * abs(e)
    np.testing.assert_allclose(res.forces, f, rtol=0, atol=1e-11)

# --------------------------------------------------------------------- EAM files


def _setfl(rho_values="0.0 0.1 0.2 0.3 0.4", grid="5 0.1 5 1.0 4.0", mass="63.546"):
    return ("comment\ncomment\ncomment\n1 Cu\n" + grid + "\n"
            f"29 {mass} 3.61 fcc\n"
            "0.0 -0.5 -1.0 -1.2 -1.3\n" + rho_values + "\n" + "4.0 2.0 1.0 0.5 0.0\n")


@pytest.mark.parametrize("text,match", [
    (_setfl(rho_values="0.0 0.1 nan 0.3 0.4"),
     "table rho\\(r\\) of Cu has a non-finite value nan at entry 2"),
    (_setfl(rho_values="0.0 0.1 inf 0.3 0.4"), "table rho\\(r\\) of Cu has a non-finite value inf"),
    (_setfl(rho_values="0.0 0.1 0.2 abc 0.4"),
     "non-numeric value 'abc' in rho\\(r\\) of Cu \\(entry 3\\)"),
    (_setfl(grid="5 0.1 5 nan 4.0"), "dr must be positive and finite, got nan"),
    (_setfl(grid="5 0.1 5 1.0 -4.0"), "cutoff must be positive and finite, got -4.0"),
    (_setfl(grid="five 0.1 5 1.0 4.0"), "Nrho must be an integer, got 'five'"),
    (_setfl(mass="nan"), "mass of Cu must be positive and finite, got nan"),
])
def test_eam_file_errors_name_file_and_table(tmp_path, text, match):
    path = tmp_path / "bad.eam.alloy"
    path.write_text(text)
    with pytest.raises(ValueError, match=f"{path}: {match}"):
        read_eam_file(str(path))
    with pytest.raises(ValueError, match=match):
        eam(str(path))


def test_eam_funcfl_nan_names_the_table(tmp_path):
    path = tmp_path / "bad.eam"
    path.write_text("comment\n29 63.546 3.61 fcc\n5 0.1 5 1.0 4.0\n"
                    "0.0 -0.5 -1.0 -1.2 -1.3\n1.0 0.8 NaN 0.2 0.0\n0.0 0.1 0.2 0.3 0.4\n")
    with pytest.raises(ValueError, match=f"{path}: table Z\\(r\\) of Cu has a non-finite value"):
        eam(str(path))
    path.write_text("comment\n29 63.546 3.61 fcc\n5 0.1 5 1.0 4.0\n"
                    "0.0 -0.5 -1.0 -1.2 -1.3\n1.0 0.8 0.4 0.2 0.0\n0.0 0.1 0.2 0.3 0.4\n")
    assert eam(str(path)).species == (29,)

# --------------------------------------------------------------------- descriptor options


@pytest.mark.parametrize("kwargs,match", [
    (dict(r_cut=NAN), r"r_cut must be positive and finite \(Å\), got nan"),
    (dict(r_cut=INF), "r_cut must be positive and finite .*inf"),
    (dict(r_cut=-3.0), "r_cut must be positive and finite .*-3.0"),
    (dict(sigma=0.0), "sigma \\(QUIP's atom_sigma\\) must be positive and finite .*0.0"),
    (dict(sigma=NAN), "sigma .* must be positive and finite .*nan"),
    (dict(sigma=INF, convention="quip"), "sigma .* must be positive and finite .*inf"),
    (dict(n_max=0), "n_max must be an integer >= 1, got 0"),
    (dict(n_max=2.5), "n_max must be an integer >= 1, got 2.5"),
    (dict(l_max=-1), "l_max must be an integer >= 0, got -1"),
    (dict(l_max=NAN), "l_max must be an integer >= 0, got nan"),
    (dict(cutoff="smooth", cutoff_width=NAN), r"cutoff_width must be in \(0, r_cut\]"),
    (dict(weighting={"function": "pow", "r0": NAN, "c": 1, "d": 1, "m": 1}),
     "weighting r0 must be a finite number, got nan"),
    (dict(r_cut=None, weighting={"function": "poly", "r0": 3.0, "c": 1, "m": INF}),
     "weighting m must be a finite number, got inf"),
    (dict(species=["Si", "Xx"]), "soap: unknown element symbol 'Xx'"),
    (dict(species=[14, 200]), "soap: atomic number 200 is outside"),
])
def test_soap_rejects_bad_options(kwargs, match):
    base = dict(species=["Si"], r_cut=3.0, n_max=2, l_max=1, sigma=0.5)
    with pytest.raises(ValueError, match=match):
        soap(**{**base, **kwargs})


@pytest.mark.parametrize("kwargs,match", [
    (dict(r_cut=INF), "r_cut must be positive and finite .*inf"),
    (dict(r_cut=0.0), "r_cut must be positive and finite .*0.0"),
    (dict(g2_params=[[-0.5, 0.0]]), "g2_params: eta in row 0 must be finite and >= 0, got -0.5"),
    (dict(g2_params=[[0.5, 0.0], [0.5, NAN]]), "g2_params: r_s in row 1 must be finite, got nan"),
    (dict(g3_params=[INF]), "g3_params: kappa in row 0 must be finite, got inf"),
    (dict(g4_params=[[NAN, 1.0, 1.0]]), "g4_params: eta in row 0 must be finite and >= 0"),
    (dict(g5_params=[[0.1, INF, 1.0]]), "g5_params: zeta in row 0 must be finite, got inf"),
])
def test_acsf_rejects_bad_options(kwargs, match):
    with pytest.raises(ValueError, match=match):
        acsf(**{"species": ["H", "O"], "r_cut": 4.0, **kwargs})


@pytest.mark.parametrize("kwargs,match", [
    (dict(r_cut_radial=INF), "r_cut_radial must be positive and finite .*inf"),
    (dict(r_cut_angular=NAN), "r_cut_angular must be positive and finite .*nan"),
    (dict(r_cut_angular=6.0), "need 0 < r_cut_angular < r_cut_radial"),
    (dict(eta_radial=INF), "eta_radial must be positive and finite"),
    (dict(zeta=NAN), "zeta must be positive and finite"),
    (dict(shifts_radial=[0.9, NAN]), "shifts_radial must be a non-empty 1-D list of finite"),
])
def test_ani_rejects_bad_options(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ani_aev(["H", "C", "O"], **kwargs)

# --------------------------------------------------------------------- descriptor features


@pytest.fixture(scope="module")
def water():
    atoms = molecule("H2O")
    atoms.center(vacuum=4.0)
    nbrs = allocate_neighbor_list(atoms.positions, atoms.cell.array, False, cutoff=4.0)
    return jnp.asarray(atoms.positions), jnp.asarray(atoms.cell.array), atoms.numbers, nbrs


DESCRIPTORS = {
    "soap": lambda: soap(species=["H", "C"], r_cut=3.5, n_max=2, l_max=1, sigma=0.5,
                         cutoff="smooth"),
    "acsf": lambda: acsf(species=["H", "C"], r_cut=3.5, g2_params=[[1.0, 0.0]]),
    "ani": lambda: ani_aev(["H", "C"], r_cut_radial=3.5, r_cut_angular=3.0),
}


@pytest.mark.parametrize("name", sorted(DESCRIPTORS))
def test_features_reject_unknown_species(water, name):
    """O is not among the descriptor's species: it would silently count as H."""
    desc = DESCRIPTORS[name]()
    pos, cell, numbers, nbrs = water
    for species in (numbers, jnp.asarray(numbers)):
        with pytest.raises(StructureError, match=r"unknown species O \(Z=8\)"):
            desc.features(pos, cell, species, nbrs)
        with pytest.raises(StructureError, match=r"unknown species O \(Z=8\)"):  # while tracing
            jax.jit(lambda p: desc.features(p, cell, species, nbrs))(pos)
    with pytest.raises(StructureError, match=r"invalid atomic numbers \[0\]"):
        desc.features(pos, cell, np.array([1, 1, 0]), nbrs)


@pytest.mark.parametrize("name", sorted(DESCRIPTORS))
def test_features_reject_a_short_neighbor_list(water, name):
    desc = DESCRIPTORS[name]()
    pos, cell, _, _ = water
    z = jnp.array([6, 1, 1])
    short = allocate_neighbor_list(np.asarray(pos), np.asarray(cell), False, cutoff=2.0)
    with pytest.raises(ValueError, match="neighbor list cutoff 2 Å is shorter than the cutoff "
                                         f"3.5 Å that the {name} features need"):
        desc.features(pos, cell, z, short)
    with pytest.raises(ValueError, match="neighbor list cutoff 2 Å is shorter"):  # inside jit
        jax.jit(desc.features)(pos, cell, z, short)


def test_soap_dscribe_cutoff_needs_the_gaussian_tail(water):
    """The dscribe convention includes neighbours up to r_cut + 3.72 sigma: a list of radius
    r_cut would miss some."""
    desc = soap(species=["H", "C"], r_cut=3.0, n_max=2, l_max=1, sigma=0.5)
    pos, cell, _, _ = water
    z = jnp.array([6, 1, 1])
    nbrs = allocate_neighbor_list(np.asarray(pos), np.asarray(cell), False, cutoff=3.0)
    with pytest.raises(ValueError, match=f"cutoff 3 Å is shorter than the cutoff "
                                         f"{desc.neighbor_cutoff:g} Å"):
        density_coefficients(desc, pos, cell, z, nbrs)


def test_valid_features_pass_the_checks(water):
    desc = DESCRIPTORS["acsf"]()
    pos, cell, _, nbrs = water
    z = np.array([6, 1, 1])
    eager = np.asarray(desc.features(pos, cell, z, nbrs))
    traced = np.asarray(jax.jit(desc.features)(pos, cell, jnp.asarray(z), nbrs))
    np.testing.assert_allclose(eager, traced, rtol=1e-14)
    assert eager.shape == (3, desc.n_features)
