"""refimpl/figures/halfcheetah_results.py and half_cheetah.py on synthetic run logs: the curves
are the per-step mean and std over seeds; the rendered policy is the best PPO run's. The committed
learning-curve images (results figures, sweep and run plots) regenerate byte for byte."""
import csv
import shutil
from pathlib import Path

import matplotlib
import numpy as np
import pytest

from refimpl.engine import logs
from refimpl.figures import half_cheetah, halfcheetah_results, mujoco_results
from refimpl.engine.logs import COLUMNS


def _write_log(path, steps, returns):
    path.mkdir(parents=True)
    with (path / "progress.csv").open("w") as f:
        w = csv.DictWriter(f, COLUMNS)
        w.writeheader()
        for i, (s, r) in enumerate(zip(steps, returns)):
            w.writerow({"update": i + 1, "env_steps": s, "ep_return": r})


def test_curves_are_mean_and_std_over_seeds(tmp_path):
    steps = np.arange(1, 11) * 100.0
    seeds = [np.linspace(0, 90, 10), np.linspace(10, 200, 10)]
    sweep = tmp_path / halfcheetah_results.SWEEPS["default"]
    for i, r in enumerate(seeds):
        _write_log(sweep / f"trpo-s{i}", steps, r)
    source, x, mean, low, high = halfcheetah_results.curves({"default": sweep})[("default", "trpo")]
    expected = np.array([np.interp(x, steps, r) for r in seeds])
    assert source == "training"  # no eval.csv: the training episodes' curve
    # interpolation and mean of two numbers: a few roundings
    np.testing.assert_allclose(mean, expected.mean(axis=0), rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(high - mean, expected.std(axis=0), rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(mean - low, expected.std(axis=0), rtol=1e-12, atol=1e-9)
    written = halfcheetah_results.make(tmp_path, tmp_path)
    assert [p.name for p in written] == ["half_cheetah_trpo.svg", "trpo_vs_ppo.svg",
                                         "halfcheetah_curves.csv"]


def _write_eval(path, steps, means):
    with (path / "eval.csv").open("w") as f:
        w = csv.DictWriter(f, logs.EVAL_COLUMNS)
        w.writeheader()
        for i, (s, m) in enumerate(zip(steps, means)):
            w.writerow({"update": i + 1, "env_steps": s, "mean": m, "std": 0, "min": m, "max": m,
                        "wall_time": 0})


def test_runs_that_evaluated_are_drawn_as_the_iqm_of_their_evaluations(tmp_path, monkeypatch):
    """Four PPO runs with eval.csv: at each step the IQM is the mean of the middle two
    evaluation returns, inside its bootstrap band, which lies within the runs' range; a TRPO
    run without eval.csv beside them keeps its training curve."""
    steps = np.arange(1, 11) * 100.0
    finals = [10.0, 400.0, 20.0, 30.0]
    for i, f in enumerate(finals):
        _write_log(tmp_path / f"ppo-s{i}", steps, np.zeros(10))
        _write_eval(tmp_path / f"ppo-s{i}", steps[1::2], np.linspace(0, f, 5))
    _write_log(tmp_path / "trpo-s0", steps, np.zeros(10))
    _write_log(tmp_path / "trpo-s1", steps, np.zeros(10))
    c = halfcheetah_results.curves({"default": tmp_path})
    source, x, iqm, low, high = c[("default", "ppo")]
    assert source == "evaluation" and list(x) == list(steps[1::2])
    ys = np.array([np.linspace(0, f, 5) for f in finals])
    middle = np.sort(ys, axis=0)[1:3].mean(axis=0)  # 4 runs: drop 1 at each end
    np.testing.assert_allclose(iqm, middle, rtol=1e-15, atol=1e-12)  # two roundings at most
    assert np.all((ys.min(axis=0) <= low) & (low <= iqm) & (iqm <= high)
                  & (high <= ys.max(axis=0)))
    assert c[("default", "trpo")][0] == "training"
    _write_eval(tmp_path / "ppo-s3", steps[::2], np.zeros(5))  # another schedule
    with pytest.raises(ValueError, match="one schedule"):
        halfcheetah_results.curves({"default": tmp_path})


def test_final_return_figures_come_from_the_summaries(tmp_path):
    """halfcheetah_iqm.svg and halfcheetah_profiles.svg are drawn, and halfcheetah_final.csv
    holds each algorithm's IQM of the summary's final returns: of 4 runs, the middle two."""
    steps = np.arange(1, 11) * 100.0
    sweep = tmp_path / halfcheetah_results.SWEEPS["default"]
    for i in range(4):
        _write_log(sweep / f"ppo-s{i}", steps, np.linspace(0, 90, 10))
    _write_log(sweep / "trpo-s0", steps, np.linspace(0, 50, 10))  # for the TRPO-only figure
    (sweep / "summary.csv").write_text("algo,seed,steps,final_return,final_return_std,wall_s\n"
                                       + "".join(f"ppo,{i},1000,{r},1,1\n" for i, r in
                                                 enumerate([10.0, 400.0, 20.0, 30.0])))
    written = [p.name for p in halfcheetah_results.make(tmp_path, tmp_path)]
    assert written[3:] == ["halfcheetah_iqm.svg", "halfcheetah_profiles.svg",
                           "halfcheetah_final.csv"]
    with (tmp_path / "halfcheetah_final.csv").open() as f:
        (row,) = list(csv.DictReader(f))
    assert (row["algo"], float(row["iqm"]), float(row["median"])) == ("ppo", 25.0, 25.0)


def test_the_zoo_sweep_is_drawn_beside_the_default_as_its_own_line(tmp_path):
    """The sweep of the ``zoo`` preset (PPO only) is a curve and a final-return row of its own
    next to the default preset's, never pooled with it: the zoo's IQM over its 4 runs is the
    middle two of its own final returns."""
    steps = np.arange(1, 11) * 100.0
    header = "algo,seed,steps,final_return,final_return_std,wall_s\n"
    for preset, finals in (("default", [1.0, 2.0, 3.0, 4.0]), ("zoo", [10.0, 400.0, 20.0, 30.0])):
        sweep = tmp_path / halfcheetah_results.SWEEPS[preset]
        for i in range(4):
            _write_log(sweep / f"ppo-s{i}", steps, np.linspace(0, finals[i], 10))
        (sweep / "summary.csv").write_text(header + "".join(
            f"ppo,{i},1000,{r},1,1\n" for i, r in enumerate(finals)))
    _write_log(tmp_path / "halfcheetah-v5" / "trpo-s0", steps, np.zeros(10))
    halfcheetah_results.make(tmp_path, tmp_path)
    with (tmp_path / "halfcheetah_curves.csv").open() as f:
        drawn = {(r["preset"], r["algo"]) for r in csv.DictReader(f)}
    assert drawn == {("default", "ppo"), ("default", "trpo"), ("zoo", "ppo")}
    with (tmp_path / "halfcheetah_final.csv").open() as f:
        iqm = {r["preset"]: float(r["iqm"]) for r in csv.DictReader(f)}
    assert iqm == {"default": 2.5, "zoo": 25.0}


def test_other_tasks_get_the_same_figures_from_their_own_sweeps(tmp_path, monkeypatch):
    """mujoco_results draws, per task with a sweep, its curves and the final-return figures,
    with the task's name in the titles, and its final.csv holds that sweep's IQM (of 4 runs:
    the middle two); a task without a sweep directory draws nothing, and none draws []."""
    steps = np.arange(1, 11) * 100.0
    hopper = tmp_path / "hopper"
    for i, final in enumerate([1.0, 50.0, 3.0, 5.0]):
        _write_log(hopper / f"trpo-s{i}", steps, np.linspace(0, 9, 10))
        _write_eval(hopper / f"trpo-s{i}", steps[1::2], np.linspace(0, final, 5))
    (hopper / "summary.csv").write_text("algo,seed,steps,final_return,final_return_std,wall_s\n"
                                        + "".join(f"trpo,{i},1000,{r},1,1\n" for i, r in
                                                  enumerate([1.0, 50.0, 3.0, 5.0])))
    tasks = {"Hopper-v5": ("hopper", {"tianshou": "hopper"}),
             "Walker2d-v5": ("walker2d", {"tianshou": "none"})}
    monkeypatch.setattr(mujoco_results, "TASKS", tasks)
    out = tmp_path / "figures"
    out.mkdir()
    written = [p.name for p in mujoco_results.make(out, tmp_path)]
    assert written == ["hopper_curves.svg", "hopper_curves.csv", "hopper_iqm.svg",
                       "hopper_profiles.svg", "hopper_final.csv"]
    assert "Hopper-v5" in (out / "hopper_iqm.svg").read_text()
    with (out / "hopper_final.csv").open() as f:
        (row,) = list(csv.DictReader(f))
    assert (row["preset"], row["algo"], float(row["iqm"])) == ("tianshou", "trpo", 4.0)
    monkeypatch.setattr(mujoco_results, "TASKS", {"Walker2d-v5": tasks["Walker2d-v5"]})
    assert mujoco_results.make(out, tmp_path) == []


def test_missing_logs_are_a_one_line_error(tmp_path):
    with pytest.raises(ValueError, match="run 'refimpl sweep'"):
        halfcheetah_results.curves({"default": tmp_path})


def test_rendered_policy_is_the_best_ppo_run_over_all_sweeps(tmp_path):
    """Among the PPO runs whose final checkpoint is there: b's ppo-s4 scored higher, but its
    sweep kept no checkpoint."""
    header = "algo,seed,steps,final_return,final_return_std,wall_s\n"
    for name, rows in (("a", "ppo,0,1,100.5,1,1\nppo,1,1,900.0,1,1\ntrpo,2,1,5000,1,1\n"),
                       ("b", "ppo,2,1,-3,1,1\nppo,3,1,899,1,1\nppo,4,1,901,1,1\n")):
        (tmp_path / name).mkdir()
        (tmp_path / name / "summary.csv").write_text(header + rows)
        for seed in range(4):
            (tmp_path / name / f"ppo-s{seed}" / "checkpoints").mkdir(parents=True)
            (tmp_path / name / f"ppo-s{seed}" / "checkpoints" / "final.npz").touch()
    best = half_cheetah.best_checkpoint([tmp_path / "a", tmp_path / "b", tmp_path / "none"])
    assert best == tmp_path / "a" / "ppo-s1" / "checkpoints" / "final.npz"


ROOT = Path(__file__).resolve().parents[2]
MATPLOTLIB = "3.11.2"
"""matplotlib version that rendered the committed images; another draws other bytes."""
needs_same_matplotlib = pytest.mark.skipif(
    matplotlib.__version__ != MATPLOTLIB,
    reason=f"the committed images were drawn by matplotlib {MATPLOTLIB}, "
           f"this is {matplotlib.__version__}")


@needs_same_matplotlib
def test_committed_results_figures_regenerate_byte_for_byte(tmp_path):
    """The three learning-curve plotters share figures.output.learning_curve_figure; each of its
    outputs in the repository, HalfCheetah's and the other MuJoCo tasks', comes out with the
    same bytes from the committed logs."""
    results = ROOT / "results"
    written = halfcheetah_results.make(tmp_path, results) + mujoco_results.make(tmp_path, results)
    for path in written:
        assert path.read_bytes() == (ROOT / "figures" / path.name).read_bytes(), path.name


@needs_same_matplotlib
@pytest.mark.parametrize("preset, stored_name", [("default", "default"), ("tianshou", "tianshou")])
def test_committed_sweep_and_run_curves_regenerate_byte_for_byte(preset, stored_name, tmp_path):
    """The committed sweep images carry the preset's name in their titles."""
    results = ROOT / "results" / halfcheetah_results.SWEEPS[preset]
    dirs = {a: sorted(results.glob(f"{a}-s*")) for a in ("ppo", "trpo", "npg")}
    logs.plot_curves(logs.learning_curves(dirs), tmp_path / "learning_curves.png",
                      f"HalfCheetah-v5, preset {stored_name!r}")
    assert (tmp_path / "learning_curves.png").read_bytes() == \
        (results / "learning_curves.png").read_bytes()
    run = results / "trpo-s0"
    for name in ("config.json", "progress.csv", "eval.csv"):
        if (run / name).exists():  # runs from before evaluation during training have no eval.csv
            shutil.copy(run / name, tmp_path / name)
    logs.plot_learning_curve(tmp_path)
    assert (tmp_path / "learning_curve.png").read_bytes() == \
        (run / "learning_curve.png").read_bytes()


def test_gait_is_measured_from_the_episode_itself():
    """``gait`` of one committed PPO policy against the same episode replayed here with
    gymnasium alone: the speed is the mean of the environment's own x_velocity over the
    steps before the last (the displacements telescope: rounding only), the pitch and the
    upside-down share come from the torso angle in the observation (obs[1] = qpos[2])."""
    import gymnasium as gym

    from refimpl.engine.evaluate import SavedPolicy

    path = ROOT / "results" / "halfcheetah-v5-tianshou" / "ppo-s2" / "checkpoints" / "final.npz"
    g = half_cheetah.gait(path, episodes=1)
    saved, env = SavedPolicy.load(path), gym.make("HalfCheetah-v5")
    obs, _ = env.reset(seed=half_cheetah.EVAL_SEED)
    angles, speeds, ret, done = [], [], 0.0, False
    while not done:
        angles.append(obs[1])
        a = np.clip(saved.act(obs[None], None)[0], env.action_space.low, env.action_space.high)
        obs, r, term, trunc, info = env.step(a)
        speeds.append(info["x_velocity"])
        ret, done = ret + r, term or trunc
    angles = np.array(angles)
    assert g["return"][0] == ret
    # each x_velocity = (x_after - x_before) / dt rounds by eps |x| / dt <= 2.2e-16 * 200 m /
    # 0.05 s ~ 1e-12 m/s (x stays under 200 m in 50 s), so does their mean; gait divides by
    # MuJoCo's clock, 5,000 sums of the 0.01 s timestep, off by <= 5,000 eps relative = 1e-12:
    # together relative 1e-11 at the 3.4 m/s this policy runs
    np.testing.assert_allclose(g["speed"][0], np.mean(speeds[:-1]), rtol=1e-11)
    np.testing.assert_allclose(g["pitch"][0], np.degrees(np.abs(angles).mean()), rtol=1e-12)
    assert g["upside_down"][0] == np.mean(np.cos(angles) < 0)


def test_the_ablation_sweeps_of_a_task_get_figures_of_their_own(tmp_path):
    """Engstrom et al.'s configurations, each a sweep ``TASK-PRESET``: one curves figure per
    task with a curve per configuration, and final-return figures whose final.csv holds each
    configuration's IQM (of 4 runs: the middle two); the task's other figures are unchanged."""
    steps = np.arange(1, 11) * 100.0
    finals = {"engstrom-ppo": [1.0, 50.0, 3.0, 5.0], "engstrom-trpo": [2.0, 8.0, 4.0, 90.0]}
    for preset, values in finals.items():
        algo = mujoco_results.ABLATION[preset]
        sweep = tmp_path / f"hopper-v5-{preset}"
        for i, final in enumerate(values):
            _write_log(sweep / f"{algo}-s{i}", steps, np.linspace(0, 9, 10))
            _write_eval(sweep / f"{algo}-s{i}", steps[1::2], np.linspace(0, final, 5))
        (sweep / "summary.csv").write_text(
            "algo,seed,steps,final_return,final_return_std,wall_s\n"
            + "".join(f"{algo},{i},1000,{r},1,1\n" for i, r in enumerate(values)))
    out = tmp_path / "figures"
    out.mkdir()
    written = [p.name for p in mujoco_results.make(out, tmp_path)]
    assert written == ["hopper_ablation_curves.svg", "hopper_ablation_curves.csv",
                       "hopper_ablation_iqm.svg", "hopper_ablation_profiles.svg",
                       "hopper_ablation_final.csv"]
    with (out / "hopper_ablation_curves.csv").open() as f:
        assert {(r["preset"], r["algo"]) for r in csv.DictReader(f)} == {
            ("engstrom-ppo", "ppo"), ("engstrom-trpo", "trpo")}
    with (out / "hopper_ablation_final.csv").open() as f:
        iqm = {(r["preset"], r["algo"]): float(r["iqm"]) for r in csv.DictReader(f)}
    assert iqm == {("engstrom-ppo", "ppo"): 4.0, ("engstrom-trpo", "trpo"): 6.0}
