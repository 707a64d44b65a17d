"""refimpl/figures/halfcheetah_results.py and half_cheetah.py on synthetic run logs: the curves
are the per-step mean and std over seeds; the rendered policy is the best PPO run's."""
import csv

import numpy as np
import pytest

from refimpl.figures import half_cheetah, halfcheetah_results
from refimpl.train import COLUMNS


def _write_log(path, steps, returns):
    path.mkdir(parents=True)
    with (path / "progress.csv").open("w") as f:
        w = csv.DictWriter(f, COLUMNS)
        w.writeheader()
        for i, (s, r) in enumerate(zip(steps, returns)):
            w.writerow({"update": i + 1, "env_steps": s, "ep_return": r})


def test_curves_are_mean_and_std_over_seeds(tmp_path, monkeypatch):
    steps = np.arange(1, 11) * 100.0
    seeds = [np.linspace(0, 90, 10), np.linspace(10, 200, 10)]
    for i, r in enumerate(seeds):
        _write_log(tmp_path / f"trpo-s{i}", steps, r)
    monkeypatch.setattr(halfcheetah_results, "RESULTS", {"paper": tmp_path})
    x, mean, std = halfcheetah_results.curves()[("paper", "trpo")]
    expected = np.array([np.interp(x, steps, r) for r in seeds])
    # interpolation and mean of two numbers: a few roundings
    np.testing.assert_allclose(mean, expected.mean(axis=0), rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(std, expected.std(axis=0), rtol=1e-12, atol=1e-9)
    written = halfcheetah_results.make(tmp_path)
    assert [p.name for p in written] == ["half_cheetah_trpo.svg", "trpo_vs_ppo.svg",
                                         "halfcheetah_curves.csv"]


def test_missing_logs_are_a_one_line_error(tmp_path):
    with pytest.raises(ValueError, match="run 'refimpl sweep'"):
        halfcheetah_results.curves({"paper": tmp_path})


def test_rendered_policy_is_the_best_ppo_run_over_all_sweeps(tmp_path):
    header = "algo,seed,steps,final_return,final_return_std,wall_s\n"
    for name, rows in (("a", "ppo,0,1,100.5,1,1\nppo,1,1,900.0,1,1\ntrpo,2,1,5000,1,1\n"),
                       ("b", "ppo,2,1,-3,1,1\nppo,3,1,899,1,1\n")):
        (tmp_path / name).mkdir()
        (tmp_path / name / "summary.csv").write_text(header + rows)
    best = half_cheetah.best_checkpoint([tmp_path / "a", tmp_path / "b", tmp_path / "none"])
    assert best == tmp_path / "a" / "ppo-s1" / "checkpoints" / "final.npz"
