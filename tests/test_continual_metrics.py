"""Continual-learning metrics against hand computations; task orders and their errors."""
import math

import pytest

from taskneurons.errors import TaskNeuronsError
from taskneurons.experiments.continual import metrics
from taskneurons.tasks.orders import ORDERS, resolve_orders

from .conftest import SHARED_DATA

# a[i][j]: task i after stage j (3 tasks); None above the diagonal where unseen tasks were not evaluated
A = [[80.0, 60.0, 40.0],
     [30.0, 90.0, 70.0],
     [20.0, 25.0, 50.0]]
ZERO = [10.0, 20.0, 30.0]
REF = [100.0, 80.0, 50.0]


def test_average_accuracy_eq4():
    assert metrics.average_accuracy(A) == pytest.approx((40 + 70 + 50) / 3)


def test_forgetting_rate_eq5():
    # FG_2 = a[0][1] / A_0 = 60/100; FG_3 = (40/100 + 70/80) / 2
    assert metrics.forgetting_rates(A, REF) == pytest.approx([None, 60.0, (40 + 87.5) / 2])
    assert metrics.forgetting_rates(A, REF)[0] is None


def test_backward_and_forward_transfer():
    # BWT = ((40 - 80) + (70 - 90)) / 2; FWT = ((30 - 20) + (25 - 30)) / 2
    assert metrics.backward_transfer(A) == pytest.approx(-30.0)
    assert metrics.forward_transfer(A, ZERO) == pytest.approx(2.5)
    assert metrics.forward_transfer(A, None) is None


def test_seen_average_and_summary():
    assert metrics.seen_average(A) == pytest.approx([80.0, (60 + 90) / 2, (40 + 70 + 50) / 3])
    s = metrics.summarize(A, ZERO, REF)
    assert s["final"] == [40.0, 70.0, 50.0] and s["final_forgetting_rate"] == pytest.approx(63.75)


def test_lower_triangle_only_and_single_task():
    lower = [[80.0, 60.0], [None, 90.0]]
    s = metrics.summarize(lower, None, [100.0, 90.0])
    assert s["average_accuracy"] == 75.0 and s["backward_transfer"] == -20.0 and s["forward_transfer"] is None
    assert metrics.forward_transfer(lower, [1.0, 2.0]) is None
    one = metrics.summarize([[55.0]], [40.0], [60.0])
    assert one["backward_transfer"] is None and one["forgetting_rates"] == [None] and one["average_accuracy"] == 55.0


def test_mean_std_over_orders():
    assert metrics.mean_std([70.0, 72.0, None]) == (71.0, 1.0)
    assert metrics.mean_std([None]) == (None, None)


@pytest.mark.parametrize("bad", [[], [[1.0, 2.0]], [[1.0], [2.0]]])
def test_matrix_must_be_square(bad):
    with pytest.raises(TaskNeuronsError, match="square"):
        metrics.average_accuracy(bad)


def test_zero_reference_leaves_fg_undefined():
    assert metrics.forgetting_rates(A, [0.0, 80.0, 50.0]) == [None, None, None]
    assert metrics.forgetting_rates(A, [100.0, 0.0, 50.0])[:2] == [None, 60.0]
    assert math.isclose(metrics.forgetting_rate(A, REF, 1), 60.0)


def test_paper_orders_resolve_to_the_shared_folders():
    seqs = resolve_orders([1, "order4", "Order-6"], SHARED_DATA)
    assert [s.name for s in seqs] == ["order1", "order4", "order6"]
    assert seqs[0].specs == ORDERS[1] == ["dbpedia", "amazon", "yahoo", "agnews"]  # built-in task names
    assert len(seqs[1].specs) == 8 and [t.name for t in seqs[0].load()] == ORDERS[1]


def test_user_sequences(tmp_path):
    seqs = resolve_orders([["sst2", "rotten_tomatoes"], {"name": "mine", "tasks": [str(SHARED_DATA / "rte")]}], SHARED_DATA)
    assert seqs[0].name == "custom1" and seqs[0].specs == ["sst2", "rotten_tomatoes"]
    assert [t.source for t in seqs[0].load()][0].startswith(str(SHARED_DATA / "sst2"))
    assert seqs[1].name == "mine"


@pytest.mark.parametrize("entries, message", [
    ([9], "unknown order 9: the paper's orders are [1, 2, 3, 4, 5, 6]"),
    (["order7"], "unknown order 7"),
    ([[]], "sequence 'custom1' is empty"),
    ([{"name": "x", "tasks": []}], "sequence 'x' is empty"),
    ([], "orders must be a non-empty list"),
    ([3.5], "unknown order 3.5"),
])
def test_bad_orders_are_one_line_errors(entries, message):
    with pytest.raises(TaskNeuronsError) as e:
        resolve_orders(entries, SHARED_DATA)
    assert message in str(e.value) and "\n" not in str(e.value)


def test_missing_data_root_names_the_folder(tmp_path):
    with pytest.raises(TaskNeuronsError, match=f"order 1 needs the task folder {tmp_path}/dbpedia"):
        resolve_orders([1], tmp_path)
