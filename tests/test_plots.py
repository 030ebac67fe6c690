import pandas as pd
import pytest

from wd.evaluate import plots

HEADER = "step,epoch,lr,train_loss,valid_loss,valid_nll,tokens_per_sec,elapsed_sec,skipped_updates"


@pytest.fixture
def figures(monkeypatch):
    """The axes of every figure the plots save (the PNG is still written)."""
    saved = []
    save = plots._save
    monkeypatch.setattr(plots, "_save", lambda fig, out, extra=None: (saved.append(fig.axes),
                                                                        save(fig, out, extra)))
    return saved


def train_log(path, bleu=None):
    """A train_log.csv with validations at 100..300 updates: without the ``valid_bleu`` column
    (a log from before it existed) when ``bleu`` is None, with it empty when ``bleu`` is ``""``."""
    head = HEADER if bleu is None else HEADER + ",valid_bleu,valid_chrf"
    rows = [f"{s},1,0.001,3,{4 - s / 100},3,100,1,0" + ("" if bleu is None else f",{bleu},{bleu}")
            for s in (100, 200, 300)]
    path.write_text("\n".join([head, *rows]) + "\n")
    return path


@pytest.mark.parametrize("bleu, rows", [(None, 1), ("", 1), ("21.5", 2)])
def test_training_curves_add_validation_bleu_where_a_run_scored_it(tmp_path, figures, bleu, rows):
    phase1 = train_log(tmp_path / "phase1.csv")  # its last update: 300
    curves = {shape: {"teacher": (train_log(tmp_path / "t.csv"), None),  # an old log
                      "wd": (train_log(tmp_path / f"{shape}.csv", bleu), phase1)}
              for shape in ("s1", "s2")}
    out = tmp_path / "curves.png"
    plots.training_curves(curves, out)
    assert out.stat().st_size > 0
    (axes,) = figures
    assert len(axes) == 2 * rows  # one column per shape, a BLEU row under the loss row
    if rows == 2:
        (line,) = axes[2].lines  # only the run that scored BLEU; same colour and offset
        assert line.get_color() == axes[0].lines[1].get_color()
        assert list(line.get_xdata()) == [400, 500, 600]  # after Phase 1's updates


def results(bleus):
    """A results table: the teacher and a kd student, one row per BLEU in ``bleus`` (seeds)."""
    rows = [("teacher", "teacher", 1, 40.0, 1.0)] + [
        ("s1", "kd", seed, bleu, 3.0 + seed / 10) for seed, bleu in enumerate(bleus, 1)]
    return pd.DataFrame(rows, columns=["student", "method", "seed", "bleu", "speedup"]).assign(
        experiment="exp", testset="test")


@pytest.mark.parametrize("bleus, bars", [([30.0], False), ([30.0, 32.0, 34.0], True)])
def test_bleu_vs_speed_draws_the_spread_over_seeds(tmp_path, figures, bleus, bars):
    out = tmp_path / "speed.png"
    plots.bleu_vs_speed(results(bleus), out)
    assert out.stat().st_size > 0
    ((ax,),) = figures
    kd = ax.containers[1]  # teacher, kd (paper order)
    assert (kd.has_xerr, kd.has_yerr) == (bars, bars)
    if bars:  # std over seeds: BLEU 32 +- 2
        across, up = kd.lines[2]  # speed-ups 3.1, 3.2, 3.3: std 0.1
        assert up.get_segments()[0][:, 1].tolist() == pytest.approx([30.0, 34.0])
        assert across.get_segments()[0][:, 0].tolist() == pytest.approx([3.1, 3.3])


def deployed(rows):
    """A results table whose rows were timed as deployed: (student, method, BLEU and words/s in
    CTranslate2 float32)."""
    table = pd.DataFrame([{"student": s, "method": m, "seed": 1, "experiment": "exp",
                           "testset": "test", "ct2_bleu": b, "ct2_words_per_sec_1t": w}
                          for s, m, b, w in rows])
    return table


def test_the_frontier_draws_the_teachers_bleu_and_the_target_speed_and_tells_shapes_apart(
        tmp_path, figures):
    out = tmp_path / "frontier.png"
    plots.speed_quality(deployed([("teacher", "teacher", 30.0, 100.0),
                                  ("stu1", "wd", 30.5, 450.0), ("stu2", "wd", 31.0, 250.0),
                                  ("stu1", "kd", 29.0, 440.0)]), out)
    assert out.stat().st_size > 0
    ((ax,),) = figures
    dotted, dashdot = (line for line in ax.lines if line.get_linestyle() in (":", "-."))
    assert dotted.get_ydata()[0] == 30.0 and dashdot.get_xdata()[0] == 400.0  # 4x 100 words/s
    open_points = [c for c in ax.collections if not c.get_facecolor().any()]
    assert len(open_points) == 1  # the second shape's one point (stu2 wd)
    titles = [child.get_title().get_text() for child in ax.get_children()
              if isinstance(child, plots.plt.matplotlib.legend.Legend)]
    assert titles == ["method", "shape", "variant", "lines"]
