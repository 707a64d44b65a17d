"""``refimpl crosscheck``: every quantity of NPG, TRPO and PPO at one given input, for comparing
another implementation with refimpl number for number, and the comparison itself.

``refimpl crosscheck IN.npz OUT.npz`` reads a policy (its flat parameters ``theta``, the layout
of ``policy.GaussianPolicy``, or of ``policy.CategoricalPolicy`` when ``policy`` is
"categorical"), a batch of states, actions and advantages and the algorithm settings, and
writes the log-probabilities, entropy, KL, policy gradient g, a Fisher-vector product, the CG
solution x, TRPO's step, the importance ratios and the clipped objective with its gradient,
plus the optional GAE, critic and line-search blocks. ``refimpl crosscheck --make-example
IN.npz [--seed S] [--policy categorical]`` writes a random valid input. ``refimpl crosscheck
compare IN.npz THEIRS.npz`` compares another implementation's outputs key by key and names the
convention that explains a difference (``compare(inputs, theirs) -> Report`` from Python).
The file format (fixed; keys may be added, none renamed), every equation, the tolerances and
the diagnoses are in ``docs/crosscheck/reference.md``. Every quantity comes from the functions
refimpl trains with (``compute.py``); ``tests/crosscheck/test_crosscheck.py`` checks the outputs
against independent oracles and against a TRPO update of training,
``tests/crosscheck/test_torch_oracle.py`` against PyTorch autograd,
``tests/crosscheck/test_adapters.py`` against Stable-Baselines3, sb3-contrib and a CleanRL-style
agent, and ``tests/data/`` holds golden vectors.

Modules: ``io`` (format and validation), ``compute`` (the outputs), ``tolerance`` (how far two
correct computations may differ), ``layout`` (other parameter layouts), ``diagnose`` (other
libraries' conventions), ``comparison`` (``compare`` and its report), ``cli`` (the command).
"""
from refimpl.crosscheck.cli import add_arguments, main, run
from refimpl.crosscheck.comparison import Report, compare, format_report
from refimpl.crosscheck.compute import (BLOCK_OUTPUT_KEYS, CATEGORICAL_OUTPUT_KEYS, OUTPUT_KEYS,
                                       compute, make_example, output_keys)
from refimpl.crosscheck.diagnose import DIAGNOSES
from refimpl.crosscheck.io import (BLOCK_SPECS, CATEGORICAL_SPEC, FORMAT_VERSION, INPUT_SPEC,
                                   validate)

__all__ = ["BLOCK_OUTPUT_KEYS", "BLOCK_SPECS", "CATEGORICAL_OUTPUT_KEYS", "CATEGORICAL_SPEC",
           "DIAGNOSES", "FORMAT_VERSION", "INPUT_SPEC", "OUTPUT_KEYS", "Report", "add_arguments",
           "compare", "compute", "format_report", "main", "make_example", "output_keys", "run",
           "validate"]
