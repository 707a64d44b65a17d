"""refimpl/figures: ``refimpl figures --quick`` writes valid images and data files, and the plotted
numbers equal independent closed forms (the LQ example's J, gradient and Fisher; min(kappa A,
clip(kappa) A); Gaussian KL; finite sums), the Monte-Carlo gradients agree with the exact ones
within a stated number of standard errors, and the PPO interpolation starts at pi_old and passes
through the policy the update produced."""
import csv
import json
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from refimpl.exact import lq
from refimpl.figures import FIGURES, main
from refimpl.figures.covariant_pg import time_in_episode
from refimpl.figures.zigzag import descent_path

QUICK_FILES = ("zig-zag.png", "zig-zag.json", "Covariant-PG-vanilla.png", "Covariant-PG-natural.png",
               "Covariant-PG.json", "KLdivergence-example.png", "KLdivergence-example.json",
               "PPO_clip.png", "PPO_clip.csv")
MC_SIGMAS = 4.0
"""Monte-Carlo bound: 4 standard errors (two-sided tail 6e-5 per component under normality)."""


@pytest.fixture(scope="module")
def quick_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("figures")
    assert main(["--out", str(out), "--quick"]) == 0
    return out


def read_json(path):
    return json.loads(path.read_text())


def read_csv(path):
    with path.open() as f:
        rows = list(csv.DictReader(f))
    return {k: np.array([float(r[k]) for r in rows]) for k in rows[0]}


def test_quick_writes_every_file_as_valid_image_or_data(quick_dir):
    for name in QUICK_FILES:
        path = quick_dir / name
        assert path.is_file() and path.stat().st_size > 0, name
        if name.endswith(".png"):
            with Image.open(path) as im:
                im.verify()
        elif name.endswith(".svg"):
            ET.parse(path)
        elif name.endswith(".json"):
            read_json(path)
        else:
            assert len(read_csv(path)["kappa"]) > 0
    assert not (quick_dir / "PPO_interpolation.png").exists(), "--quick must skip training figures"


def test_registry_quick_excludes_exactly_the_training_figures():
    assert [n for n, (_, training) in FIGURES.items() if training] == \
        ["ppo_interpolation", "halfcheetah_results", "mujoco_results", "half_cheetah"]


def test_unknown_figure_name_exits_2_with_one_line(tmp_path, capsys):
    assert main(["--out", str(tmp_path), "--only", "nope"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("refimpl: error: ") and err.count("\n") == 1


def test_results_figures_draw_the_checkouts_results_from_any_working_directory(
        tmp_path, monkeypatch, capsys):
    """--results defaults to the results/ beside the package, not ./results: from an empty
    working directory, halfcheetah_results draws the committed sweeps (it failed there, leaving
    an empty --out behind)."""
    monkeypatch.chdir(tmp_path)
    assert main(["--only", "halfcheetah_results", "--out", "figs"]) == 0, capsys.readouterr().err
    assert sorted(p.name for p in (tmp_path / "figs").iterdir()) == [
        "half_cheetah_trpo.svg", "halfcheetah_curves.csv", "halfcheetah_final.csv",
        "halfcheetah_iqm.svg", "halfcheetah_profiles.svg", "trpo_vs_ppo.svg"]


@pytest.mark.parametrize("results, match", [
    ("missing", "no results directory RESULTS (the sweeps that halfcheetah_results draws from); "
                "give --results DIR"),
    ("empty", "no run logs under RESULTS/halfcheetah-v5, RESULTS/halfcheetah-v5-tianshou"),
])
def test_results_figure_without_results_is_one_line_and_leaves_no_directory(
        tmp_path, capsys, results, match):
    """A missing --results is refused before --out is made; a figure that finds no runs there
    leaves no --out (nor its parents) that the command created."""
    (tmp_path / "empty").mkdir()
    path = tmp_path / results
    assert main(["--only", "halfcheetah_results", "--out", str(tmp_path / "a" / "figs"),
                 "--results", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("refimpl: error: ") and err.count("\n") == 1, err
    assert match.replace("RESULTS", str(path)) in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty"]


def test_a_figure_that_fails_leaves_none_of_its_files(tmp_path, monkeypatch, capsys):
    """Only what the failed figure wrote is removed; a file already in --out stays."""
    from refimpl.figures import ppo_clip

    def fails_halfway(out_dir):
        (out_dir / "PPO_clip.png").write_bytes(b"half a figure")
        raise ValueError("cannot draw PPO_clip")
    monkeypatch.setattr(ppo_clip, "make", fails_halfway)
    (tmp_path / "notes.txt").write_text("mine")
    assert main(["--only", "ppo_clip", "--out", str(tmp_path)]) == 2
    assert capsys.readouterr().err == "refimpl: error: cannot draw PPO_clip\n"
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]


def test_zigzag_newton_reaches_optimum_in_one_step_gd_does_not(quick_dir):
    d = read_json(quick_dir / "zig-zag.json")
    A, x_star = np.array(d["A"]), np.array(d["x_star"])
    gd, newton = np.array(d["gd_path"]), np.array(d["newton_path"])
    # one Newton step on a quadratic is exact up to the rounding of a 2x2 solve: 1e-12
    np.testing.assert_allclose(newton[1], x_star, atol=1e-12)
    # the plotted GD path is x - alpha A (x - x*), recomputed here; rounding of 30 steps: 1e-12
    np.testing.assert_allclose(gd[1:], gd[:-1] - d["alpha"] * (gd[:-1] - x_star) @ A.T, atol=1e-12)
    assert np.linalg.norm(gd[-1] - x_star) > 0.1, "GD should still be far after N steps"
    steep = np.linalg.eigh(A)[1][:, -1]
    along = (gd - x_star) @ steep
    assert np.all(along[1:] * along[:-1] < 0), "GD must zig-zag across the steep direction"


@given(st.integers(0, 2**32 - 1))
def test_newton_path_reaches_optimum_of_any_spd_quadratic(seed):
    rng = np.random.default_rng(seed)
    B = rng.standard_normal((2, 2))
    A = B @ B.T + 0.1 * np.eye(2)
    x0, x_star = rng.standard_normal(2), rng.standard_normal(2)
    path = descent_path(A, x0, x_star, np.linalg.inv(A), 1.0, 1)
    # condition number of A below ~1e3 here: error of inv(A) A - I about 1e-13
    np.testing.assert_allclose(path[1], x_star, atol=1e-10)


@given(st.lists(st.booleans(), min_size=1, max_size=30))
def test_time_in_episode_counts_steps_since_last_end(ends):
    expected, t = [], 0
    for end in ends:
        expected.append(t)
        t = 0 if end else t + 1
    got = time_in_episode(np.array(ends)[:, None])
    np.testing.assert_array_equal(got[:, 0], expected)


def test_covariant_pg_contours_equal_closed_form_return(quick_dir):
    d = read_json(quick_dir / "Covariant-PG.json")
    J = np.array(d["J_normalized"])
    expected = [[lq.expected_return(d["preset"], k, s, normalized=True) for k in d["contour_k"]]
                for s in d["contour_sigma"]]
    # same formulas evaluated pointwise instead of broadcast, JSON round trip exact: 1e-13
    np.testing.assert_allclose(J, expected, rtol=1e-13)
    assert d["k_star"] == lq.optimal_gain("peters")[0]


def test_covariant_pg_arrows_are_unit_closed_form_directions(quick_dir):
    d = read_json(quick_dir / "Covariant-PG.json")
    for i, s in enumerate(d["arrow_sigma"]):
        for j, k in enumerate(d["arrow_k"]):
            g = np.array(lq.return_gradient("peters", k, s))
            nat = np.linalg.solve(lq.fisher("peters", k, s), g)
            # unit vectors from the same closed forms, rounding only: 1e-12
            np.testing.assert_allclose(d["vanilla_dir"][i][j], g / np.linalg.norm(g), atol=1e-12)
            np.testing.assert_allclose(d["natural_dir"][i][j], nat / np.linalg.norm(nat), atol=1e-12)


def test_covariant_pg_sampled_gradients_agree_within_monte_carlo_bounds(quick_dir):
    for row in read_json(quick_dir / "Covariant-PG.json")["samples"]:
        g = np.array(lq.return_gradient("peters", row["k"], row["sigma"]))
        g_hat, se = np.array(row["g_sampled"]), np.array(row["g_sampled_stderr"])
        assert np.all(np.abs(g_hat - g) <= MC_SIGMAS * se), row
        # a deviation of at most 4 standard errors turns the direction by at most this angle
        bound = np.degrees(np.arcsin(min(1.0, MC_SIGMAS * np.linalg.norm(se) / np.linalg.norm(g))))
        cos = g_hat @ g / np.linalg.norm(g_hat) / np.linalg.norm(g)
        assert np.degrees(np.arccos(cos)) == pytest.approx(row["angle_vanilla_deg"], abs=1e-9)
        assert row["angle_vanilla_deg"] <= bound, row


def test_ppo_clip_data_is_min_of_unclipped_and_clipped(quick_dir):
    c = read_csv(quick_dir / "PPO_clip.csv")
    kappa = c["kappa"]
    for adv, col in ((1.0, "L_clip_A_plus1"), (-1.0, "L_clip_A_minus1")):
        expected = np.minimum(kappa * adv, np.clip(kappa, 0.8, 1.2) * adv)
        # kappa passes through exp(log kappa): a few ulps, 1e-14 relative
        np.testing.assert_allclose(c[col], expected, rtol=1e-14, atol=1e-15)


def test_kl_example_values_match_closed_forms_and_sums(quick_dir):
    d = read_json(quick_dir / "KLdivergence-example.json")
    for v in d["gauss_pairs"].values():
        (mp, sp), (mq, sq) = v["p"], v["q"]
        closed = np.log(sq / sp) + (sp ** 2 + (mp - mq) ** 2) / (2 * sq ** 2) - 0.5
        # quadrature tolerance epsrel 1e-11; closed form rounding 1e-15
        assert v["kl_pq_quadrature"] == pytest.approx(closed, rel=1e-9)
        assert v["kl_pq_closed_form"] == pytest.approx(closed, rel=1e-12)
        assert v["param_distance"] == pytest.approx(0.2, rel=1e-12)
    pairs = d["gauss_pairs"]
    assert pairs["narrow"]["kl_pq_closed_form"] > 100 * pairs["wide"]["kl_pq_closed_form"]

    z = d["zero_probability"]
    p, q = np.array(z["p"]), np.array(z["q"])
    assert z["kl_pq"] == "inf" and np.any((q == 0) & (p > 0))
    m = q > 0
    assert z["kl_qp"] == pytest.approx(np.sum(q[m] * np.log(q[m] / p[m])), rel=1e-14)

    x = np.linspace(-40, 40, 800_001)
    dx = x[1] - x[0]
    norm = lambda x, m, s: np.exp(-0.5 * ((x - m) / s) ** 2) / (s * np.sqrt(2 * np.pi))  # noqa: E731
    px = sum(w * norm(x, m, s) for w, m, s in d["mixture_p"])
    for v in d["asymmetry"].values():
        qx = norm(x, v["mean"], v["std"])
        ok = (px > 1e-300) & (qx > 1e-300)  # where both underflow the integrand is below 1e-290
        kl_pq = np.sum(px[ok] * np.log(px[ok] / qx[ok])) * dx
        kl_qp = np.sum(qx[ok] * np.log(qx[ok] / px[ok])) * dx
        # Riemann sum, step 1e-4, of smooth integrands decaying at the ends: error < 1e-7
        assert v["kl_pq"] == pytest.approx(kl_pq, abs=1e-7)
        assert v["kl_qp"] == pytest.approx(kl_qp, abs=1e-7)
        assert abs(v["kl_pq"] - v["kl_qp"]) > 0.1, "the figure's point: KL is asymmetric"


def test_ppo_interpolation_starts_at_pi_old_and_passes_through_update(tmp_path):
    """Runs one PPO update on Hopper-v5 (about 2 s here, so it stays in the default suite)."""
    assert main(["--out", str(tmp_path), "--only", "ppo_interpolation"]) == 0
    with Image.open(tmp_path / "PPO_interpolation.png") as im:
        im.verify()
    c = read_csv(tmp_path / "PPO_interpolation.csv")
    info = read_json(tmp_path / "PPO_interpolation.json")
    i1 = info["alpha1_index"]
    assert c["alpha"][0] == 0.0 and c["alpha"][i1] == 1.0
    assert c["mean_kl"][0] == 0.0
    # at alpha = 0 kappa = 1: all three objectives are mean(standardised A) = 0 up to rounding 1e-12
    for col in ("L_cpi", "clipped_term", "L_clip"):
        assert abs(c[col][0]) < 1e-12
    # same forward passes and dist.kl as fisher.kl_mean inside the update: rounding 1e-12
    assert c["mean_kl"][i1] == pytest.approx(info["update_metrics"]["kl"], rel=1e-12)
    assert np.all(c["L_clip"] <= c["L_cpi"] + 1e-15), "L_CLIP is a pessimistic bound on L_CPI"
