"""Everything around the numerical core: data, training runs, tracking, sweeps, plots."""
