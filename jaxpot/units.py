"""Units: jaxpot works in eV, Å, amu and fs; these are ASE's CODATA values."""

from ase import units as _u

eV = 1.0
Angstrom = 1.0
amu = 1.0
#: one femtosecond in ASE's internal time unit (Å sqrt(amu/eV))
fs = float(_u.fs)
#: Boltzmann constant, eV/K
kB = float(_u.kB)
#: 1 GPa in eV/Å^3
GPa = float(_u.GPa)
#: 1 eV/Å^3 in GPa
eV_per_A3_to_GPa = 1.0 / GPa
#: reduced Planck constant, eV * (ASE time unit)
hbar = float(_u._hbar / _u._e * _u.second)
#: reduced Planck constant in eV*s
hbar_eV_s = float(_u._hbar / _u._e)
#: conversion of sqrt(eV / (Å^2 amu)) (angular frequency) to THz (cycles/ps)
sqrt_eV_per_A2_amu_to_THz = float(((_u._e / (_u._amu * 1e-20)) ** 0.5)
                                  / (2 * 3.141592653589793) / 1e12)
#: Coulomb constant e^2 / (4 pi eps0) in eV Å (ASE's Hartree * Bohr; LAMMPS metal units use
#: 14.399645, pymatgen 14.3996454687: 2.5e-8 and 8e-9 relative from this)
coulomb = float(_u.Hartree * _u.Bohr)
