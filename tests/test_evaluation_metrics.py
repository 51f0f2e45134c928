"""Known-answer tests for the evaluation's pure parts: thresholds, folds, FAR/DIR,
leave-one-out calibration, matching and the input parsers."""

from __future__ import annotations

import math
from pathlib import Path
from statistics import NormalDist, mean, stdev

import numpy as np
import pytest

from camera.evaluation.calibrate import ImpostorPrior, per_comparison_far, recommend_threshold
from camera.evaluation.datasets import read_imglab_xml, read_pairs, read_people
from camera.evaluation.extract import ExtractStats, FaceResult
from camera.evaluation.identify import ProbeScore, score_open_set
from camera.evaluation.metrics import (
    accuracy_at,
    best_threshold,
    far_at,
    kfold_accuracy,
    match_detections,
    roc,
    threshold_at_far,
)
from camera.evaluation.pairs import score_pairs, stratified_folds

BELOW = math.nextafter  # the float just below a value: nextafter(x, -inf)


@pytest.mark.parametrize(("same_d", "diff_d", "threshold", "accuracy"), [
    ([0.1, 0.2, 0.3], [0.5, 0.6], 0.4, 1.0),          # separable: midpoint of the gap
    ([0.2, 0.7], [0.5, 0.9], 0.35, 0.75),              # two best candidates: the smaller wins
    ([0.5], [0.1], 0.1 - 1e-6, 0.5),                   # inverted: reject everything
    ([0.3, math.inf], [0.6], 0.45, 2 / 3),             # inf (no embedding) is never accepted
])
def test_best_threshold_picks_the_first_accuracy_maximising_midpoint(same_d, diff_d, threshold, accuracy):
    d = np.array(same_d + diff_d)
    s = np.array([True] * len(same_d) + [False] * len(diff_d))
    t = best_threshold(d, s)
    assert t == pytest.approx(threshold)
    assert accuracy_at(d, s, t) == pytest.approx(accuracy)


def test_kfold_chooses_each_threshold_on_the_other_folds():
    # Fold 0 alone would choose 0.45; folds 1+2 choose 0.35, which misclassifies fold 0's 0.4 same pair.
    d = np.array([0.4, 0.5, 0.3, 0.4, 0.3, 0.4])
    s = np.array([True, False, True, False, True, False])
    f = np.array([0, 0, 1, 1, 2, 2])
    ts, accs = kfold_accuracy(d, s, f)
    assert ts == pytest.approx([0.35, 0.35, 0.35])
    assert accs == pytest.approx([0.5, 1.0, 1.0])


@pytest.mark.parametrize(("far", "expected", "error"), [
    (0.0, BELOW(0.1, -math.inf), None),
    (0.1, BELOW(0.2, -math.inf), None),   # 10 impostors: one may be accepted
    (0.25, BELOW(0.3, -math.inf), None),  # floor(2.5) = 2 accepted
    (1.0, math.inf, None),
    (1.5, None, ValueError),
])
def test_threshold_at_far(far, expected, error):
    imp = np.arange(1, 11) / 10
    if error:
        with pytest.raises(error):
            threshold_at_far(imp, far)
        return
    t = threshold_at_far(imp, far)
    assert t == expected
    assert far_at(imp, t) <= far


def test_threshold_at_far_refuses_no_impostors():
    with pytest.raises(ValueError, match="at least one impostor"):
        threshold_at_far(np.array([]), 0.01)


def test_roc_auc_perfect_and_chance():
    assert roc(np.array([0.1, 0.2, 0.8, 0.9]), np.array([1, 1, 0, 0], bool)).auc == pytest.approx(1.0)
    assert roc(np.array([0.5, 0.5]), np.array([1, 0], bool)).auc == pytest.approx(0.5)


def _probe(person, stranger, nearest, d):
    return ProbeScore(f"{person}.jpg", person, stranger, nearest, d, d if nearest == person else 9.0)


def test_open_set_rates_at_a_threshold():
    probes = [_probe("a", False, "a", 0.3), _probe("a", False, "b", 0.4), _probe("b", False, "b", 0.7),
              _probe("b", False, None, math.inf),  # known probe without a face: not named
              _probe("x", True, "a", 0.45), _probe("x", True, "b", 0.8), _probe("y", True, "a", 0.9),
              _probe("y", True, None, math.inf)]  # stranger without a face: left out of the FAR
    p = score_open_set(probes, 0.5, "t")
    assert (p.stranger_far, p.strangers_accepted) == (pytest.approx(1 / 3), 1)
    assert (p.known_named, p.known_wrong, p.known_rejected) == (0.25, 0.25, 0.5)
    # DIR at FAR 0: the threshold sits just below the nearest stranger (0.45).
    t0 = threshold_at_far(np.array([0.45, 0.8, 0.9]), 0.0)
    assert score_open_set(probes, t0, "far0").known_named == 0.25
    assert score_open_set(probes, t0, "far0").stranger_far == 0.0


def _gallery():
    names = ["A", "A", "B", "B", "C", "C"]
    vectors = np.array([[0.0], [0.1], [1.0], [1.2], [3.0], [3.3]])
    return names, vectors


#: The gallery's 12 cross-person pair distances (A-B, A-C, B-C), written out.
CROSS = [1.0, 1.2, 0.9, 1.1, 3.0, 3.3, 2.9, 3.2, 2.0, 2.3, 1.8, 2.1]
Z = NormalDist().inv_cdf


def _prior(a: float, b: float) -> ImpostorPrior:
    """A prior whose lower-tail line is exactly ``a + b * z``."""
    return ImpostorPrior(a, b, (0.01, 0.1), (a + b * Z(0.01), a + b * Z(0.1)), 1000, "synthetic")


def _p_star(far: float, n: int) -> float:
    return 1 - (1 - far) ** (1 / n)


@pytest.mark.parametrize(("target", "prior", "default", "binding"), [
    (0.5, None, None, "household"),            # p* = 1 - 0.5^(1/6): household normal fit alone
    (0.2, _prior(1.0, 0.1), None, "household"),  # household 0.67 < prior 0.82
    (0.2, _prior(0.5, 0.1), None, "prior"),      # prior 0.32 < household 0.67
    (0.2, _prior(1.0, 0.1), 0.3, "model default"),  # both looser than the cap
])
def test_recommend_threshold_is_the_stricter_fitted_estimate(target, prior, default, binding):
    names, vectors = _gallery()
    rec = recommend_threshold(names, vectors, target, prior=prior, default_max_distance=default)
    p = _p_star(target, 6)
    house = mean(CROSS) + stdev(CROSS) * Z(p)
    expected = {"household": house, "prior": None if prior is None else prior.mean + prior.sd * Z(p),
                "model default": default}[binding]
    assert rec.per_comparison_far == pytest.approx(p, rel=1e-12)
    assert (rec.household_mean, rec.household_sd) == (pytest.approx(mean(CROSS)), pytest.approx(stdev(CROSS)))
    assert rec.household_threshold == pytest.approx(house) and rec.n_household_pairs == 12
    assert (rec.binding, rec.max_distance) == (binding, pytest.approx(expected))
    if binding != "model default":  # the binding model's open-set FAR at its own threshold is the target
        assert rec.expected_far == pytest.approx(target)
    assert rec.impostor_distances == pytest.approx((0.9, 0.9, 1.0, 1.1, 1.8, 2.1))  # leave-one-out check
    assert rec.genuine_distances == pytest.approx((0.1, 0.1, 0.2, 0.2, 0.3, 0.3))
    assert (rec.expected_named, rec.expected_rank1) == (1.0, 1.0)
    assert (rec.n_people, rec.n_photos, rec.n_enrolled, rec.n_impostor, rec.n_genuine) == (3, 6, 6, 6, 6)
    loo = np.array(rec.impostor_distances) <= rec.max_distance  # 2 of 6 at target 0.5 (t = 0.97)
    assert rec.loo_far == loo.mean() and any("taken for each other" in w for w in rec.warnings) == loo.any()


def test_per_comparison_far_shrinks_with_the_gallery():
    assert per_comparison_far(0.01, 1) == pytest.approx(0.01)
    assert per_comparison_far(0.01, 30) == pytest.approx(1 - 0.99 ** (1 / 30), rel=1e-12)
    assert per_comparison_far(0.01, 300) < per_comparison_far(0.01, 30) < 0.01 / 29


def test_recommend_threshold_uses_negatives_the_prior_alone_and_refuses_nothing_to_go_on():
    one = np.array([[0.0], [0.1]])
    with pytest.raises(ValueError, match="cross-person photo pairs"):
        recommend_threshold(["A", "A"], one, 0.1)
    rec = recommend_threshold(["A", "A"], one, 0.1, prior=_prior(1.0, 0.1))  # one person: the prior decides
    assert (rec.binding, rec.max_distance) == ("prior", pytest.approx(1.0 + 0.1 * Z(_p_star(0.1, 2))))
    assert any("household estimate is left out" in w for w in rec.warnings)
    neg = np.array([[0.5], [0.7], [2.0], [1.5], [1.0]])  # 5 negatives x 2 photos = 10 pairs: enough
    rec = recommend_threshold(["A", "A"], one, 0.4, negatives=neg)
    pairs = [0.5, 0.4, 0.7, 0.6, 2.0, 1.9, 1.5, 1.4, 1.0, 0.9]
    assert rec.n_household_pairs == 10 and rec.n_negatives == 5
    assert rec.max_distance == pytest.approx(mean(pairs) + stdev(pairs) * Z(_p_star(0.4, 2)))
    assert rec.impostor_distances == pytest.approx((0.4, 0.6, 0.9, 1.4, 1.9))  # each negative's nearest
    assert rec.loo_far == pytest.approx(2 / 5) and any("taken for each other" in w for w in rec.warnings)
    with pytest.raises(ValueError, match="expected vectors"):
        recommend_threshold(["A"], np.zeros((2, 3)), 0.1)


def test_recommend_threshold_never_goes_below_zero():
    rec = recommend_threshold(*_gallery(), 0.01)  # z(p*) = -2.93: the normal fit reaches below 0
    assert rec.max_distance == 0.0 and any("not positive" in w for w in rec.warnings)


@pytest.mark.parametrize(("det", "scores", "gt", "ignore", "labels", "matched"), [
    ([[0, 0, 10, 10]], [1.0], [[0, 0, 10, 10]], [False], [1], [True]),
    ([[0, 0, 10, 10], [1, 1, 10, 10]], [0.5, 0.9], [[0, 0, 10, 10]], [False], [0, 1], [True]),  # score order
    ([[20, 20, 30, 30]], [1.0], [[0, 0, 10, 10]], [False], [0], [False]),
    ([[0, 0, 10, 10]], [1.0], [[0, 0, 10, 10]], [True], [-1], [True]),                          # ignored box
    ([[0, 0, 10, 10]], [1.0], [[0, 0, 10, 19]], [False], [1], [True]),                          # IoU 0.526
    ([[0, 0, 10, 10]], [1.0], [[0, 0, 10, 21]], [False], [0], [False]),                         # IoU 0.476
])
def test_match_detections_at_iou_half(det, scores, gt, ignore, labels, matched):
    lab, m = match_detections(np.array(det, float), np.array(scores), np.array(gt, float), np.array(ignore))
    assert lab.tolist() == labels
    assert m.tolist() == matched


def _stats():
    return ExtractStats("synthetic", "none", 0, 0, 0, 1, 0.0, 0.0, 0.0, 0.0, {})


def test_pairs_train_test_protocol_on_synthetic_embeddings(tmp_path):
    """Known answer: 1-D embeddings, so every distance is a difference we can write down."""
    pos = {"a1": 0.0, "a2": 0.3, "b1": 1.0, "b2": 1.5, "c1": 3.0, "c2": 3.2, "d1": 5.0, "e1": 5.5}
    photos = {str(tmp_path / k): FaceResult(str(tmp_path / k), "detected", "", np.array([v]), None, 1)
              for k, v in pos.items()}
    photos[str(tmp_path / "gone")] = FaceResult(str(tmp_path / "gone"), "missing", "", None, None, 0)
    train = tmp_path / "train.txt"   # same: 0.3, 0.5; different: 1.0, 1.7  -> threshold 0.75
    train.write_text("2\na 1 2\nb 1 2\na 1 b 1\nb 1 c 2\n")
    test = tmp_path / "test.txt"     # same: 0.2 (ok), 0.3 (ok); different: 0.5 (accepted: wrong), gone (inf)
    test.write_text("2\nc 1 2\na 1 2\nd 1 e 1\na 1 gone 1\n")
    for name in pos:
        photos[str(tmp_path / name[0] / f"{name[0]}_{int(name[1]):04d}.jpg")] = photos[str(tmp_path / name)]
    photos[str(tmp_path / "gone" / "gone_0001.jpg")] = photos[str(tmp_path / "gone")]
    tr, te = read_pairs(train, tmp_path), read_pairs(test, tmp_path)
    result = score_pairs("synthetic", _stats(), photos, te, tr, "train/test", 10, 0.6)
    assert result.threshold == pytest.approx(0.75)
    assert result.train_accuracy == 1.0
    assert result.accuracy_mean == 0.75
    assert result.pairs == 4 and result.pairs_without_embedding == 1
    assert result.accuracy_at_default == 0.75
    assert result.accuracy_with_both_faces == pytest.approx(2 / 3)


def test_stratified_folds_deal_each_class_in_turn():
    assert stratified_folds(np.array([1, 1, 1, 0, 0, 0], bool), 2).tolist() == [0, 1, 0, 0, 1, 0]


def test_read_lfw_pairs_with_folds_and_a_bad_line(tmp_path):
    f = tmp_path / "pairs.txt"
    f.write_text("2\t1\nA\t1\t2\nA\t1\tB\t3\nC\t2\t10\nC\t1\tD\t1\nbroken line here too many\n")
    ps = read_pairs(f, tmp_path / "lfw")
    assert ps.n_folds == 2
    assert [(p.same, p.fold) for p in ps.pairs] == [(True, 0), (False, 0), (True, 1), (False, 1)]
    assert ps.pairs[2].path_b == tmp_path / "lfw" / "C" / "C_0010.jpg"
    assert [p.kind for p in ps.problems] == ["bad_line"]


def test_read_csv_pairs_and_people(tmp_path):
    f = tmp_path / "pairs.csv"
    f.write_text("path_a,path_b,same\nx/1.jpg,x/2.jpg,1\nx/1.jpg,y/1.jpg,0\nx/1.jpg,,1\n")
    ps = read_pairs(f)
    assert [(p.path_a.name, p.same) for p in ps.pairs] == [("1.jpg", True), ("1.jpg", False)]
    assert len(ps.problems) == 1
    for name in ("s10", "s2", "empty"):
        (tmp_path / "people" / name).mkdir(parents=True)
    for name in ("10.pgm", "9.pgm", "notes.txt"):
        (tmp_path / "people" / "s2" / name).write_bytes(b"x")
    (tmp_path / "people" / "s10" / "1.jpg").write_bytes(b"x")
    people, problems = read_people(tmp_path / "people")
    assert [(p.name, [x.name for x in p.photos]) for p in people] == [("s2", ["9.pgm", "10.pgm"]),
                                                                      ("s10", ["1.jpg"])]
    assert [(Path(p.item).name, p.kind) for p in problems] == [("empty", "empty_folder")]


def test_read_imglab_xml_boxes_are_xyxy(tmp_path):
    f = tmp_path / "t.xml"
    f.write_text("<dataset><images><image file='a.jpg'><box top='10' left='20' width='30' height='40'/>"
                 "<box top='0' left='0' width='5' height='5' ignore='1'/></image></images></dataset>")
    (img,) = read_imglab_xml(f)
    assert img.path == tmp_path / "a.jpg"
    assert img.xyxy.tolist() == [[20, 10, 50, 50], [0, 0, 5, 5]]
    assert img.ignore.tolist() == [False, True]


def test_pairs_view2_folds_choose_each_threshold_on_the_other_folds(tmp_path):
    """LFW View 2 format ("FOLDS N"): two folds of one same + one different pair each."""
    pos = {"a1": 0.0, "a2": 0.4, "b1": 2.0, "b2": 2.2, "c1": 1.0, "d1": 5.0, "e1": 5.3}
    photos = {}
    for name, v in pos.items():
        path = str(tmp_path / name[0] / f"{name[0]}_{int(name[1]):04d}.jpg")
        photos[path] = FaceResult(path, "detected", "", np.array([v]), None, 1)
    f = tmp_path / "pairs.txt"   # fold 0: same 0.4, different 1.0; fold 1: same 0.2, different 0.3
    f.write_text("2 1\na 1 2\na 1 c 1\nb 1 2\nd 1 e 1\n")
    ps = read_pairs(f, tmp_path)
    r = score_pairs("synthetic", _stats(), photos, ps, None, "2-fold", 10, 0.6)
    # fold 0 scored with fold 1's threshold 0.25 (the 0.4 same pair is rejected): 50 %;
    # fold 1 scored with fold 0's threshold 0.7 (the 0.3 different pair is accepted): 50 %.
    assert [f.threshold for f in r.folds] == pytest.approx([0.25, 0.7])
    assert [f.accuracy for f in r.folds] == [0.5, 0.5]
    assert (r.accuracy_mean, r.accuracy_std, r.pairs) == (0.5, 0.0, 4)
    assert r.threshold == pytest.approx(0.475)  # the median of the fold thresholds


def _people(tmp_path, positions):
    from camera.evaluation.datasets import Person

    people, photos = [], {}
    for name, values in positions.items():
        paths = []
        for k, v in enumerate(values):
            path = tmp_path / name / f"{k}.jpg"
            photos[str(path)] = FaceResult(str(path), "detected", "", np.array([v]), None, 1)
            paths.append(path)
        people.append(Person(name, tuple(paths)))
    return people, photos


def test_open_set_identification_on_synthetic_embeddings(tmp_path):
    """Known answer: A, B, C enrol 2 photos each; D (4th person) is the stranger."""
    from camera.evaluation.identify import score_identify, split_people

    people, photos = _people(tmp_path, {"A": [0.0, 0.1, 0.2, 0.35], "B": [1.0, 1.1, 1.3, 1.6],
                                        "C": [3.0, 3.1, 3.2], "D": [0.6, 2.5, 5.0]})
    split = split_people(people, enroll_k=2, stranger_every=4)
    assert split.strangers == ["D"] and len(split.enrol) == 6 and len(split.known_probes) == 5
    r = score_identify("synthetic", _stats(), photos, people, split, 0.45, 0.3)
    assert r.rank1 == 1.0
    fixed, far1, far01, rec = r.points
    # Strangers' nearest distances: 0.4 (B), 0.5 (C), 1.9 (C); known probe B/3 is 0.5 from B.
    assert (fixed.stranger_far, fixed.known_named, fixed.known_rejected) == (pytest.approx(1 / 3), 0.8,
                                                                             pytest.approx(0.2))
    assert far1.threshold == BELOW(1.0 - 0.6, -math.inf) and far1.stranger_far == 0.0
    assert far1.known_named == 0.8 and far01.threshold == far1.threshold
    # The 12 enrolled cross-person distances (A-B, A-C, B-C), normal fit at p* = 1 - 0.7^(1/6): t = 0.65.
    cross = [1.0, 1.1, 0.9, 1.0, 3.0, 3.1, 2.9, 3.0, 2.0, 2.1, 1.9, 2.0]
    assert rec.threshold == pytest.approx(mean(cross) + stdev(cross) * Z(_p_star(0.3, 6)))
    assert r.recommendation.binding == "household"
    assert (rec.stranger_far, rec.known_named) == (pytest.approx(2 / 3), 1.0)
    by_name = {p.name: p for p in r.persons}
    assert (by_name["B"].n_probes, by_name["B"].named, by_name["D"].accepted) == (2, 1, 1)


def test_open_set_without_strangers_reports_no_dir(tmp_path):
    from camera.evaluation.identify import score_identify, split_people

    people, photos = _people(tmp_path, {"A": [0.0, 0.1, 0.2], "B": [1.0, 1.1, 1.3]})
    split = split_people(people, enroll_k=2, stranger_every=0)
    r = score_identify("synthetic", _stats(), photos, people, split, 0.45, 0.01, prior=_prior(1.0, 0.1))
    assert [p.label for p in r.points] == ["fixed threshold", "recommended (target FAR 0.01)"]
    assert r.recommendation.binding == "prior"  # 4 cross-person pairs: too few for the household fit
    assert math.isnan(r.points[0].stranger_far) and r.points[0].known_named == 1.0


def test_identify_report_renders_without_strangers_or_photos_on_disk(tmp_path):
    from camera.evaluation.identify import IdentifyResult, score_identify, split_people
    from camera.evaluation.render import identify_report

    people, photos = _people(tmp_path, {"A": [0.0, 0.1, 0.7], "B": [1.0, 1.1, 1.3]})
    split = split_people(people, enroll_k=2, stranger_every=0)
    e = score_identify("synthetic", _stats(), photos, people, split, 0.45, 0.01)
    rep = identify_report(IdentifyResult(str(tmp_path), 2, 0, None, 0.01, "p", "s", [e], []))
    md = rep.to_markdown("files")
    assert "- (no strangers)" in md and "| A | known | 3 | 2 | 1 |" in md
    assert rep.to_html().count("data:image/png;base64,") >= 2


@pytest.mark.parametrize(("boxes", "select", "index"), [
    # LFW Charles_Grassley_0001 (250x250, HOG boxes): a bigger bystander box still has its centre in the
    # middle half; the subject is the box nearest the centre (regression: "biggest in the middle half").
    ([[127, 68, 235, 175], [86, 86, 175, 176]], "central", 1),
    ([[127, 68, 235, 175], [86, 86, 175, 176]], "largest", 0),
    ([[0, 0, 50, 50], [200, 200, 250, 250]], "central", 0),  # equally far: the first (highest score) wins
])
def test_pick_face(boxes, select, index):
    from camera.evaluation.extract import pick_face
    from camera.types import Detections

    det = Detections(np.array(boxes, np.float32), np.linspace(1, 0, len(boxes)).astype(np.float32))
    assert pick_face(det, 250, 250, select) == index
