"""refimpl/figures/halfcheetah_results.py and half_cheetah.py on synthetic run logs: the curves
are the per-step mean and std over seeds; the rendered policy is the best PPO run's. The committed
learning-curve images (results figures, sweep and run plots) regenerate byte for byte."""
import csv
import shutil
from pathlib import Path

import matplotlib
import numpy as np
import pytest

from refimpl import sweep, train
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
    monkeypatch.setattr(halfcheetah_results, "RESULTS", {"default": tmp_path})
    x, mean, std = halfcheetah_results.curves()[("default", "trpo")]
    expected = np.array([np.interp(x, steps, r) for r in seeds])
    # interpolation and mean of two numbers: a few roundings
    np.testing.assert_allclose(mean, expected.mean(axis=0), rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(std, expected.std(axis=0), rtol=1e-12, atol=1e-9)
    written = halfcheetah_results.make(tmp_path)
    assert [p.name for p in written] == ["half_cheetah_trpo.svg", "trpo_vs_ppo.svg",
                                         "halfcheetah_curves.csv"]


def test_final_return_figures_come_from_the_summaries(tmp_path, monkeypatch):
    """halfcheetah_iqm.svg and halfcheetah_profiles.svg are drawn, and halfcheetah_final.csv
    holds each algorithm's IQM of the summary's final returns: of 4 runs, the middle two."""
    steps = np.arange(1, 11) * 100.0
    for i in range(4):
        _write_log(tmp_path / f"ppo-s{i}", steps, np.linspace(0, 90, 10))
    _write_log(tmp_path / "trpo-s0", steps, np.linspace(0, 50, 10))  # for the TRPO-only figure
    (tmp_path / "summary.csv").write_text("algo,seed,steps,final_return,final_return_std,wall_s\n"
                                          + "".join(f"ppo,{i},1000,{r},1,1\n" for i, r in
                                                    enumerate([10.0, 400.0, 20.0, 30.0])))
    monkeypatch.setattr(halfcheetah_results, "RESULTS", {"default": tmp_path})
    written = [p.name for p in halfcheetah_results.make(tmp_path)]
    assert written[3:] == ["halfcheetah_iqm.svg", "halfcheetah_profiles.svg",
                           "halfcheetah_final.csv"]
    with (tmp_path / "halfcheetah_final.csv").open() as f:
        (row,) = list(csv.DictReader(f))
    assert (row["algo"], float(row["iqm"]), float(row["median"])) == ("ppo", 25.0, 25.0)


def test_missing_logs_are_a_one_line_error(tmp_path):
    with pytest.raises(ValueError, match="run 'refimpl sweep'"):
        halfcheetah_results.curves({"default": tmp_path})


def test_rendered_policy_is_the_best_ppo_run_over_all_sweeps(tmp_path):
    header = "algo,seed,steps,final_return,final_return_std,wall_s\n"
    for name, rows in (("a", "ppo,0,1,100.5,1,1\nppo,1,1,900.0,1,1\ntrpo,2,1,5000,1,1\n"),
                       ("b", "ppo,2,1,-3,1,1\nppo,3,1,899,1,1\n")):
        (tmp_path / name).mkdir()
        (tmp_path / name / "summary.csv").write_text(header + rows)
    best = half_cheetah.best_checkpoint([tmp_path / "a", tmp_path / "b", tmp_path / "none"])
    assert best == tmp_path / "a" / "ppo-s1" / "checkpoints" / "final.npz"


ROOT = Path(__file__).resolve().parent.parent
MATPLOTLIB = "3.11.2"
"""matplotlib version that rendered the committed images; another draws other bytes."""
needs_same_matplotlib = pytest.mark.skipif(
    matplotlib.__version__ != MATPLOTLIB,
    reason=f"the committed images were drawn by matplotlib {MATPLOTLIB}, "
           f"this is {matplotlib.__version__}")


@needs_same_matplotlib
def test_committed_results_figures_regenerate_byte_for_byte(tmp_path, monkeypatch):
    """The three learning-curve plotters share figures.output.learning_curve_figure; each of its
    outputs in the repository comes out with the same bytes from the committed logs."""
    monkeypatch.setattr(halfcheetah_results, "RESULTS",
                        {k: ROOT / v for k, v in halfcheetah_results.RESULTS.items()})
    for path in halfcheetah_results.make(tmp_path):
        assert path.read_bytes() == (ROOT / "figures" / path.name).read_bytes(), path.name


@needs_same_matplotlib
@pytest.mark.parametrize("preset, stored_name", [("default", "paper"), ("tianshou", "tianshou")])
def test_committed_sweep_and_run_curves_regenerate_byte_for_byte(preset, stored_name, tmp_path):
    """The committed sweep images carry the preset's name at the time ('paper' for 'default')."""
    results = ROOT / halfcheetah_results.RESULTS[preset]
    dirs = {a: sorted(results.glob(f"{a}-s*")) for a in ("ppo", "trpo", "npg")}
    sweep.plot_curves(sweep.learning_curves(dirs), tmp_path / "learning_curves.png",
                      f"HalfCheetah-v5, preset {stored_name!r}")
    assert (tmp_path / "learning_curves.png").read_bytes() == \
        (results / "learning_curves.png").read_bytes()
    run = results / "trpo-s0"
    for name in ("config.json", "progress.csv"):
        shutil.copy(run / name, tmp_path / name)
    train.plot_learning_curve(tmp_path)
    assert (tmp_path / "learning_curve.png").read_bytes() == \
        (run / "learning_curve.png").read_bytes()
