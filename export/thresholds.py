"""The precision gate's numbers, defined once: what each artifact must agree with the PyTorch FP32
model, and INT8's defaults (``export --min-agreement``, ``--max-miou-drop`` and ``--max-class-drop``).
How they combine into a criterion: :mod:`unet_edge.export.criterion`."""

THRESHOLDS = {"fp32": 0.999, "fp16": 0.995}  # pixel agreement; INT8's is --min-agreement
FP16_MAX = 65504.0
FP16_MAX_ERROR = 0.02  # a conv whose FP16 output is off by more of its FP32 output's range stays in FP32
DEFAULT_MIN_AGREEMENT = 0.99  # INT8 without labels: pixel agreement with the FP32 model is the criterion
# INT8 with labels: agreement is only a floor beside accuracy, set just under the agreement of the
# accuracy-neutral INT8 graphs measured (benchmarks/README.md, "INT8 gate"): it stops a graph gone
# wrong where the labels do not look (void pixels), not the rounding of near-ties
DEFAULT_AGREEMENT_FLOOR = 0.95
DEFAULT_MAX_MIOU_DROP = 0.005  # at most 0.5 mIoU points lost against labels
DEFAULT_MAX_CLASS_DROP = 0.01  # and no class's IoU down by more than 1 point
DEFAULT_SEARCH_MINUTES = 30.0  # INT8's float-layer search, calibration not counted
