"""What every fitted family shares: frames and labels, the validation carve, loss weights, the
streamed QR least squares, the quasi-Newton optimiser, checkpoints and configuration checks.

GAP (:mod:`jaxpot.gap`), the networks (:mod:`jaxpot.nn`), the linear models
(:mod:`jaxpot.linear`) and the charge models (:mod:`jaxpot.electrostatics`) import these
modules and never each other:

    frames        read_frames, write_json (atomic), check_writable
    labels        TrainingDataError, LabelError, LabelKeys, read_labels_checked (one reader)
    splits        validation_carve: the seeded split, stratified by config_type
    weights       LossWeights (sigmas: eV/atom, eV/Å, GPa), config_type weights
    dataset       labelled frames as padded device buckets, an epoch's steps
    loss          the weighted loss of a batch and its error sums and metrics
    epochs        TrainResult and the end of an epoch (best score, patience)
    qr            the streamed (tall-skinny) QR least squares of GAP and the linear fits
    quasi_newton  BFGS / L-BFGS updates and directions on flat vectors
    lbfgs         full-batch (L-)BFGS of params["net"] (the MTP fit's second stage)
    checkpoint    one checkpoint format, one fingerprint, CheckpointError
    config        ConfigError and the validation-split keys every family takes
    values        checks of settings values (booleans, integers, ranges), "did you mean"
    inputs        file lists, label-name tables and species of a config
    families      the registry of trainable families (Family, register_family, family)
    schema        config schemas (Key, Table): check in the user's names, template
    keys          the top-level keys every family's config shares
    fitting       a config file from reading to fitting (jaxpot fit, validate, template)
"""
