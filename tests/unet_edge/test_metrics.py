import numpy as np

from unet_edge.metrics import confusion, scores


def test_confusion_ignores_labels_outside_the_classes():
    label = np.array([[0, 1, 2, 11]], np.uint8)
    pred = np.array([[0, 1, 1, 0]], np.uint8)
    cm = confusion(pred, label, 3)
    assert cm.sum() == 3
    assert cm[2, 1] == 1


def test_scores_match_hand_computed_values():
    cm = np.array([[3, 1], [0, 4]])
    s = scores(cm)
    assert np.isclose(s.pixel_acc, 7 / 8)
    assert np.allclose(s.iou, [3 / 4, 4 / 5])
    assert np.isclose(s.miou, (0.75 + 0.8) / 2)


def test_absent_classes_do_not_count_towards_the_mean():
    cm = np.array([[5, 0, 0], [0, 5, 0], [0, 0, 0]])
    s = scores(cm)
    assert np.isnan(s.iou[2]) and s.miou == 1.0
