"""The input/output contract of a model unet-edge did not train: what its input must look like and
how to read its output. Torch-free: the PyTorch wrapper (models/foreign_module.py) and the ONNX
graph surgery both build the deploy graph from it, and the sidecar records it (``to_json``).

The deploy graph always receives uint8 BGR NHWC frames; the contract says what to turn them into:
colour order, ``(pixel - mean) / std`` on the 0-255 scale, layout and size; then which output holds
the logits (or class ids) and the class table they index.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from unet_edge.core.errors import ConfigError, ModelError
from unet_edge.core.parse import parse_size
from unet_edge.data.classes import ClassInfo, class_table

Triple = tuple[float, float, float]
# (mean, std) per channel on the 0-255 scale, in RGB order.
NORM_PRESETS: dict[str, tuple[Triple, Triple]] = {
    "imagenet": ((123.675, 116.28, 103.53), (58.395, 57.12, 57.375)),  # torchvision, timm, smp, HF
    "unit": ((0.0, 0.0, 0.0), (255.0, 255.0, 255.0)),  # [0, 1]
    "signed": ((127.5, 127.5, 127.5), (127.5, 127.5, 127.5)),  # [-1, 1]
    "none": ((0.0, 0.0, 0.0), (1.0, 1.0, 1.0)),  # raw 0-255 floats
}
# Each value of a contract and where it came from: "option" (the command line), "graph" (read from the
# ONNX graph), a model's own declaration, "--like FILE", or "recorded" (a checkpoint or sidecar).
ORIGIN_KEYS = ("color", "norm", "layout", "size", "output", "classes")
# What no graph shows and a wrong guess silently breaks: the user or the model must state them.
MUST_BE_STATED = {"color": "--rgb or --bgr",
                  "norm": "--input-norm imagenet|unit|signed|none (or --mean R,G,B --std R,G,B, 0-255 scale)"}
COLORS = ("rgb", "bgr")
LAYOUTS = ("nchw", "nhwc")
OUTPUT_KINDS = ("logits", "ids")


@dataclass(frozen=True)
class IOContract:
    """How to feed a foreign model and read its output.

    ``mean``/``std`` are RGB-ordered on the 0-255 scale whatever ``color`` is (a BGR model gets its
    channels swapped after normalising). ``size`` None means the export size decides; ``multiple_of``
    pads the input up to a multiple (and crops the output back). ``output`` picks a graph output
    name, a dict key or a tuple index; ``output_layout`` None finds the class axis from the class count.
    """

    color: str = "rgb"
    mean: Triple = NORM_PRESETS["imagenet"][0]
    std: Triple = NORM_PRESETS["imagenet"][1]
    norm: str | None = "imagenet"  # the preset the mean/std came from, None when given by hand
    layout: str = "nchw"
    size: tuple[int, int] | None = None
    multiple_of: int = 1
    output: str | None = None
    output_kind: str = "logits"
    output_layout: str | None = None
    classes: tuple[str, ...] = ()
    palette: tuple[tuple[int, int, int], ...] = ()
    ignore_index: int = 255
    extra: dict = field(default_factory=dict, compare=False)  # free-form notes recorded in the sidecar
    origin: dict = field(default_factory=dict, compare=False)  # ORIGIN_KEYS -> where each value came from

    def __post_init__(self) -> None:
        for name, value, allowed in (("colour order", self.color, COLORS), ("input layout", self.layout, LAYOUTS),
                                     ("output kind", self.output_kind, OUTPUT_KINDS)):
            if value not in allowed:
                raise ConfigError(f"{name} '{value}': choose one of {', '.join(allowed)}")
        if self.output_layout is not None and self.output_layout not in LAYOUTS:
            raise ConfigError(f"output layout '{self.output_layout}': choose one of {', '.join(LAYOUTS)}")
        if len(self.mean) != 3 or len(self.std) != 3:
            raise ConfigError("--mean and --std take three values (R,G,B)")
        if any(s == 0 for s in self.std):
            raise ConfigError("--std values must be non-zero")
        if self.multiple_of < 1:
            raise ConfigError(f"--multiple-of must be at least 1, got {self.multiple_of}")
        if self.size is not None and (len(self.size) != 2 or min(self.size) < 1):
            raise ConfigError(f"--size must be two positive values (HxW), got {self.size}")
        if len(self.palette) != len(self.classes):
            raise ConfigError(f"{len(self.classes)} class names but {len(self.palette)} palette colours")

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def unit_mean(self) -> Triple:
        """``mean`` on the [0, 1] scale (what checkpoints and the deploy graph's constants use)."""
        return tuple(m / 255.0 for m in self.mean)  # type: ignore[return-value]

    @property
    def unit_std(self) -> Triple:
        return tuple(s / 255.0 for s in self.std)  # type: ignore[return-value]

    def class_info(self) -> ClassInfo:
        return ClassInfo(self.classes, self.palette, self.ignore_index)

    def padded(self, h: int, w: int) -> tuple[int, int]:
        """The model input size for a frame of ``h`` x ``w``: rounded up to ``multiple_of``."""
        m = self.multiple_of
        return -(-h // m) * m, -(-w // m) * m

    def check_classes(self, count: int, where: str = "the model") -> None:
        """One-line error when the model's class count is not the table's."""
        if self.classes and count != self.num_classes:
            raise ModelError(f"{where} outputs {count} classes but --classes gives {self.num_classes}: "
                             "pass the class table the model was trained with")

    def with_classes(self, info: ClassInfo) -> IOContract:
        return replace(self, classes=tuple(info.names), palette=tuple(info.palette), ignore_index=info.ignore_index)

    def to_json(self) -> dict:
        return {"color": self.color, "mean": list(self.mean), "std": list(self.std), "norm": self.norm,
                "layout": self.layout, "size": list(self.size) if self.size else None,
                "multiple_of": self.multiple_of, "output": self.output, "output_kind": self.output_kind,
                "output_layout": self.output_layout, "classes": list(self.classes),
                "palette": [list(c) for c in self.palette], "ignore_index": self.ignore_index,
                **({"extra": self.extra} if self.extra else {}), **({"origin": self.origin} if self.origin else {})}

    def stated(self, changes: dict, origin: str) -> IOContract:
        """This contract with ``changes`` (field -> value), each recorded as coming from ``origin``."""
        keys = {"mean": "norm", "std": "norm", "multiple_of": "size", "output_kind": "output",
                "output_layout": "output", "palette": "classes", "ignore_index": "classes"}
        marks = {keys.get(k, k) for k in changes} & set(ORIGIN_KEYS)
        return replace(self, **changes, origin={**self.origin, **dict.fromkeys(sorted(marks), origin)})

    def require_stated(self, what: str) -> None:
        """One-line error where the colour order or the input scaling was neither given nor stated by the model."""
        missing = [k for k in MUST_BE_STATED if k not in self.origin]
        if missing:
            said = {"color": "colour order (RGB or BGR)", "norm": "input scaling (mean/std)"}
            raise ConfigError(f"{what}: its {' and '.join(said[k] for k in missing)} cannot be read from the model "
                              f"and unet-edge does not guess: pass {'; and '.join(MUST_BE_STATED[k] for k in missing)}")

    def describe(self, size: tuple[int, int] | None = None) -> str:
        """One line: what goes into the graph (at ``size``, else the contract's) and where each value came from."""
        def src(key: str) -> str:
            return f" [{self.origin.get(key, 'default')}]"

        norm = f" ({self.norm})" if self.norm else ""
        size = size or self.size
        size = f"{size[0]}x{size[1]}" if size else "the export size"
        multiple = f", padded to a multiple of {self.multiple_of}" if self.multiple_of > 1 else ""
        out = f"'{self.output}' " if self.output else ""
        kind = self.output_kind + (f" {self.output_layout.upper()}" if self.output_layout else "")
        names = ", ".join(self.classes[:4]) + (", ..." if len(self.classes) > 4 else "")
        return (f"{self.color.upper()}{src('color')}; (x - mean) / std with mean {_fmt(self.mean)}, std "
                f"{_fmt(self.std)} on 0-255{norm}{src('norm')}; {self.layout.upper()}{src('layout')}; {size}{multiple}"
                f"{src('size')}; output {out}{kind}{src('output')}; {self.num_classes} classes ({names})"
                f"{src('classes')}")

    @classmethod
    def from_json(cls, data: dict) -> IOContract:
        try:
            return cls(color=data["color"], mean=tuple(data["mean"]), std=tuple(data["std"]), norm=data.get("norm"),
                       layout=data["layout"], size=tuple(data["size"]) if data.get("size") else None,
                       multiple_of=int(data.get("multiple_of", 1)), output=data.get("output"),
                       output_kind=data.get("output_kind", "logits"), output_layout=data.get("output_layout"),
                       classes=tuple(data.get("classes", ())),
                       palette=tuple(tuple(c) for c in data.get("palette", ())),
                       ignore_index=int(data.get("ignore_index", 255)), extra=dict(data.get("extra") or {}),
                       origin=dict(data.get("origin") or dict.fromkeys(ORIGIN_KEYS, "recorded")))
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(f"malformed input/output contract in the sidecar ({exc})") from exc


def _fmt(values) -> str:
    return ",".join(f"{v:g}" for v in values)


def parse_triple(text: str, option: str) -> Triple:
    """``"R,G,B"`` -> three floats (one-line error naming ``option``)."""
    try:
        values = tuple(float(v) for v in text.replace(" ", "").split(","))
    except ValueError:
        values = ()
    if len(values) != 3:
        raise ConfigError(f"{option} '{text}': expected three comma-separated numbers (R,G,B on the 0-255 scale)")
    return values  # type: ignore[return-value]


@dataclass(frozen=True)
class ContractOptions:
    """What the command-line options say of a model's input and output (None: not given)."""

    rgb: bool | None = None
    input_norm: str | None = None
    mean: str | None = None
    std: str | None = None
    layout: str | None = None
    size: str | tuple[int, int] | None = None
    multiple_of: int | None = None
    output: str | None = None
    output_kind: str | None = None
    classes: str | None = None


def contract_from_options(given: ContractOptions, base: IOContract | None = None) -> IOContract:
    """The contract the command-line options describe, on top of ``base`` (defaults: RGB, ImageNet
    normalisation, NCHW, logits). ``--mean``/``--std`` override the preset channel by channel given."""
    rgb, input_norm, mean, std, layout = given.rgb, given.input_norm, given.mean, given.std, given.layout
    size, multiple_of, output, output_kind, classes = (given.size, given.multiple_of, given.output,
                                                       given.output_kind, given.classes)
    c = base or IOContract()
    changes: dict = {}
    if rgb is not None:
        changes["color"] = "rgb" if rgb else "bgr"
    if input_norm is not None:
        key = input_norm.strip().lower()
        if key not in NORM_PRESETS:
            raise ConfigError(f"--input-norm '{input_norm}': choose one of {', '.join(NORM_PRESETS)}")
        changes.update(mean=NORM_PRESETS[key][0], std=NORM_PRESETS[key][1], norm=key)
    if mean is not None:
        changes.update(mean=parse_triple(mean, "--mean"), norm=None)
    if std is not None:
        changes.update(std=parse_triple(std, "--std"), norm=None)
    if layout is not None:
        changes["layout"] = layout.strip().lower()
    if size is not None:
        changes["size"] = parse_size(size) if isinstance(size, str) else tuple(size)
    if multiple_of is not None:
        changes["multiple_of"] = int(multiple_of)
    if output is not None:
        changes["output"] = output
    if output_kind is not None:
        changes["output_kind"] = output_kind.strip().lower()
    if classes:
        info = class_table(classes)
        changes.update(classes=tuple(info.names), palette=tuple(info.palette), ignore_index=info.ignore_index)
    return c.stated(changes, "option")
