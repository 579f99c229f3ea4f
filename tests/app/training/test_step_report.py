"""The adapt training bar's numbers: steps over the whole run, or seconds of a ``--minutes`` budget that stop one
short of it until training has stopped."""

from __future__ import annotations

from app.training.adapt import _StepReport
from reid_core.adapt.trainer import AdaptConfig


def test_steps_pass_through_with_the_epoch_and_the_bar_ends_full() -> None:
    seen: list[tuple[str, int, int, str]] = []
    rep = _StepReport(lambda *a: seen.append(a), AdaptConfig(epochs=3))
    rep(1, 30, 1, 0.5)
    rep(11, 30, 2, 0.25)
    assert seen == [("training", 1, 30, "epoch 1/3, loss 0.500"), ("training", 11, 30, "epoch 2/3, loss 0.250")]
    rep.finish(3)
    assert seen[-1] == ("training", 30, 30, "3 epochs done")


def test_a_time_budget_counts_seconds_and_never_shows_full_while_training() -> None:
    seen: list[tuple[str, int, int, str]] = []
    rep = _StepReport(lambda *a: seen.append(a), AdaptConfig(epochs=1000, time_budget_s=60.0))
    rep(1, 9999, 1, 0.5)
    assert seen[-1][1:3] == (0, 60) and "epoch 1" in seen[-1][3]
    rep.t0 -= 30  # half the budget spent
    rep(7, 9999, 2, 0.4)
    assert seen[-1][1:3] == (30, 60)
    rep.t0 -= 300  # the last epoch runs past the budget: the trainer checks it only between epochs
    rep(9, 9999, 3, 0.3)
    assert seen[-1][1:3] == (59, 60)
    rep.finish(3)
    assert seen[-1] == ("training", 60, 60, "3 epochs done")


def test_no_step_no_bar_to_finish() -> None:
    seen: list[tuple[str, int, int, str]] = []
    _StepReport(lambda *a: seen.append(a), AdaptConfig(epochs=3)).finish(3)
    assert seen == []
