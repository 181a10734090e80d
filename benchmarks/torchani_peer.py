"""TorchANI 2.9 model with jaxpot's default BPNN architecture (shared by the NN benchmarks)."""

from __future__ import annotations

import os

os.environ.setdefault("TORCHANI_NO_WARN_EXTENSIONS", "1")


def torchani_bpnn(cutoff: float = 5.0, hidden=(64, 64), device: str = "cpu",
                  neighborlist: str = "all_pairs", angular_fraction: float | None = None):
    """(AEVComputer, ANINetworks) in float32 on ``device``: jaxpot's ``scaled_ani_settings``
    AEVs for Si and one CELU network of ``hidden`` widths, torch using every core.
    ``neighborlist`` is TorchANI's pair search (``all_pairs`` or ``cell_list``);
    ``angular_fraction``: r_cut_angular / cutoff (default jaxpot's)."""
    import torch
    import torchani
    from torchani.nn import ANINetworks, AtomicNetwork

    from jaxpot.nn.bpnn import scaled_ani_settings
    torch.set_num_threads(os.cpu_count())
    s = scaled_ani_settings([14], cutoff,
                            angular_fraction and angular_fraction * cutoff)
    radial = torchani.aev.ANIRadial(torch.tensor(s["eta_radial"]).float(),
                                    torch.tensor(s["shifts_radial"]).float(), s["r_cut_radial"])
    angular = torchani.aev.ANIAngular(torch.tensor(s["eta_angular"]).float(),
                                      torch.tensor(s["zeta"]).float(),
                                      torch.tensor(s["shifts_angular"]).float(),
                                      torch.tensor(s["sections"]).float(), s["r_cut_angular"])
    comp = torchani.AEVComputer(radial, angular, num_species=1, neighborlist=neighborlist)
    nets = ANINetworks({"Si": AtomicNetwork([comp.out_dim, *hidden, 1], "celu", bias=True)})
    return comp.to(device), nets.to(device)
