"""The precision gate's numbers, defined once: what each artifact must agree with the PyTorch FP32
model, and INT8's default targets (``export --min-agreement`` and ``--max-miou-drop``)."""

THRESHOLDS = {"fp32": 0.999, "fp16": 0.995}  # pixel agreement; INT8's is the --min-agreement target
DEFAULT_MIN_AGREEMENT = 0.99  # INT8: pixel agreement with the FP32 model
DEFAULT_MAX_MIOU_DROP = 0.005  # INT8: at most 0.5 mIoU points lost against labels, where there are labels
