"""Similar answers: the same code under other names and another layout is found; other
logic is not."""

from __future__ import annotations

import nbformat

from segedu.grading.results.similarity import (
    FILE,
    SimilarPair,
    normalised,
    read_similar,
    similar_answers,
    todo_cells,
    write_similar,
)

SOLUTION = '''def mean_iou(pred, target, classes):
    """IoU per class, averaged."""
    # BEGIN SOLUTION
    scores = []
    for c in range(classes):
        inter = ((pred == c) & (target == c)).sum()
        union = ((pred == c) | (target == c)).sum()
        scores.append(inter / union)
    return sum(scores) / len(scores)
    # END SOLUTION'''
BLANK = '''def mean_iou(pred, target, classes):
    """IoU per class, averaged."""
    # YOUR CODE HERE
    raise NotImplementedError()'''
# the solution with every name changed, its layout and comments too
RENAMED = '''def mean_iou(p, t, n):
    """My own docstring."""
    values = [ ]   # one per class
    for k in range(n):
        i = ( (p == k) & (t == k) ).sum()
        u = ((p == k) | (t == k)).sum()
        values.append(i / u)
    return sum(values) / len(values)'''
# another way to the same number: other logic, not the same answer
OTHER = '''def mean_iou(pred, target, classes):
    scores = [((pred == c) & (target == c)).sum() / ((pred == c) | (target == c)).sum()
              for c in range(classes)]
    return sum(scores) / len(scores)'''
# the same as OTHER with other names: a pair that is not the model answer
OTHER_RENAMED = '''def mean_iou(a, b, k):
    s = [((a == j) & (b == j)).sum() / ((a == j) | (b == j)).sum() for j in range(k)]
    return sum(s) / len(s)'''


def _notebook(todo: str, *, graded: bool = True):
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell(todo)
    cell.id = "iou"
    nb.cells = [nbformat.v4.new_code_cell("import torch"), cell]
    if graded:
        test = nbformat.v4.new_code_cell("assert mean_iou(1, 1, 1) == 1")
        test.id = "iou-test"
        nb.cells.append(test)
    return nb


def test_names_and_layout_do_not_count_logic_does():
    assert normalised(RENAMED) == normalised(SOLUTION)
    assert normalised(OTHER_RENAMED) == normalised(OTHER)
    assert normalised(OTHER) != normalised(SOLUTION)
    # what a name stands for outside the answer is kept: torch.sum is not numpy.sum
    assert normalised("def f(x):\n    return torch.sum(x)") != normalised(
        "def f(x):\n    return numpy.sum(x)")
    # and the order of operations counts
    assert normalised("def f(a, b):\n    return a - b") != normalised(
        "def f(a, b):\n    return b - a")
    assert normalised("def f(:") is None


def test_pairs_per_todo_in_the_output_folder(tmp_path):
    lab, solution = _notebook(BLANK), _notebook(SOLUTION)
    assert todo_cells(lab) == ["iou"]
    submissions = {"ann": _notebook(SOLUTION), "bob": _notebook(RENAMED), "cem": _notebook(OTHER),
                   "dia": _notebook(OTHER_RENAMED), "eve": _notebook(BLANK), "fay": None}
    submissions["gus"] = _notebook(BLANK)  # two students who answered nothing are not a pair
    pairs = similar_answers(submissions, lab, solution)
    assert [(p.todo, p.first, p.second, p.group, p.same_as_solution) for p in pairs] == [
        ("iou", "ann", "bob", 2, True), ("iou", "cem", "dia", 2, False)]
    assert pairs[0].fingerprint != pairs[1].fingerprint
    assert write_similar(tmp_path, pairs) == tmp_path / FILE
    assert read_similar(tmp_path) == pairs
    assert (tmp_path / FILE).read_text().splitlines()[0] == (
        "todo,first,second,group,same_as_solution,fingerprint")
    assert read_similar(tmp_path / "nowhere") == []
    # without the solution nothing is marked; a group of three is three pairs
    submissions["hal"] = _notebook(RENAMED.replace("values", "v"))
    pairs = similar_answers(submissions, lab)
    assert [(p.first, p.second, p.group) for p in pairs if not p.same_as_solution] == [
        ("ann", "bob", 3), ("ann", "hal", 3), ("bob", "hal", 3), ("cem", "dia", 2)]
    assert isinstance(pairs[0], SimilarPair)
