"""Class tables of the supported dataset layouts (names, RGB palettes, ignore index)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from unet_edge.core.errors import DataError


@dataclass(frozen=True)
class ClassInfo:
    """Class names, an RGB palette (one colour per class) and the label ignored by loss and metrics."""

    names: tuple[str, ...]
    palette: tuple[tuple[int, int, int], ...]
    ignore_index: int = 255
    void_name: str = field(default="void")

    def __post_init__(self) -> None:
        if len(self.names) != len(self.palette):
            raise DataError(f"{len(self.names)} class names but {len(self.palette)} palette colours")
        if 0 <= self.ignore_index < len(self.names):
            raise DataError(f"ignore index {self.ignore_index} collides with class '{self.names[self.ignore_index]}'")

    @property
    def num_classes(self) -> int:
        return len(self.names)

    def to_json(self) -> dict:
        return {"classes": list(self.names), "palette": [list(c) for c in self.palette],
                "ignore_index": self.ignore_index}

    @classmethod
    def from_json(cls, data: dict, source: str = "classes.json") -> ClassInfo:
        try:
            names = tuple(str(n) for n in data["classes"])
            palette = data.get("palette") or default_palette(len(names))
            palette = tuple(tuple(int(v) for v in c) for c in palette)
            return cls(names, palette, int(data.get("ignore_index", 255)))
        except (KeyError, TypeError, ValueError) as exc:
            raise DataError(f"{source}: expected {{'classes': [...], 'palette': [[r,g,b], ...], "
                            f"'ignore_index': N}} ({exc})") from exc

    @classmethod
    def load(cls, path: Path) -> ClassInfo:
        try:
            return cls.from_json(json.loads(Path(path).read_text()), str(path))
        except FileNotFoundError as exc:
            raise DataError(f"{path}: class file not found") from exc
        except json.JSONDecodeError as exc:
            raise DataError(f"{path}: not valid JSON ({exc})") from exc


def default_palette(n: int) -> list[tuple[int, int, int]]:
    """A distinct, deterministic palette for datasets that ship none (PASCAL VOC's bit trick)."""
    out = []
    for i in range(n):
        r = g = b = 0
        c = i + 1
        for j in range(8):
            r |= ((c >> 0) & 1) << (7 - j)
            g |= ((c >> 1) & 1) << (7 - j)
            b |= ((c >> 2) & 1) << (7 - j)
            c >>= 3
        out.append((r, g, b))
    return out


CAMVID = ClassInfo(
    names=("Sky", "Building", "Pole", "Road", "Pavement", "Tree", "SignSymbol", "Fence", "Car",
           "Pedestrian", "Bicyclist"),
    palette=((128, 128, 128), (128, 0, 0), (192, 192, 128), (128, 64, 128), (60, 40, 222),
             (128, 128, 0), (192, 128, 128), (64, 64, 128), (64, 0, 128), (64, 64, 0), (0, 128, 192)),
    ignore_index=11,
)

# CARLA's semantic tags: the first 13 are the Lyft-Udacity challenge dump (CARLA 0.8),
# all 23 the later release the course used. Colours are CARLA's CityScapes palette.
_CARLA_TABLE = (
    ("Unlabeled", (0, 0, 0)), ("Building", (70, 70, 70)), ("Fence", (100, 40, 40)),
    ("Other", (55, 90, 80)), ("Pedestrian", (220, 20, 60)), ("Pole", (153, 153, 153)),
    ("RoadLine", (157, 234, 50)), ("Road", (128, 64, 128)), ("SideWalk", (244, 35, 232)),
    ("Vegetation", (107, 142, 35)), ("Vehicles", (0, 0, 142)), ("Wall", (102, 102, 156)),
    ("TrafficSign", (220, 220, 0)), ("Sky", (70, 130, 180)), ("Ground", (81, 0, 81)),
    ("Bridge", (150, 100, 100)), ("RailTrack", (230, 150, 140)), ("GuardRail", (180, 165, 180)),
    ("TrafficLight", (250, 170, 30)), ("Static", (110, 190, 160)), ("Dynamic", (170, 120, 50)),
    ("Water", (45, 60, 150)), ("Terrain", (145, 170, 100)),
)


def carla_classes(num_classes: int) -> ClassInfo:
    """CARLA's class table cut (or extended with generic names) to ``num_classes``."""
    if num_classes < 1:
        raise DataError(f"num_classes must be positive, got {num_classes}")
    table = list(_CARLA_TABLE[:num_classes])
    extra = default_palette(num_classes)
    table += [(f"class_{i}", extra[i]) for i in range(len(table), num_classes)]
    return ClassInfo(tuple(n for n, _ in table), tuple(c for _, c in table), ignore_index=255)


# Cityscapes' 19 training ids (labels.py of cityscapesScripts) with their official colours.
CITYSCAPES = ClassInfo(
    names=("road", "sidewalk", "building", "wall", "fence", "pole", "traffic light", "traffic sign",
           "vegetation", "terrain", "sky", "person", "rider", "car", "truck", "bus", "train", "motorcycle",
           "bicycle"),
    palette=((128, 64, 128), (244, 35, 232), (70, 70, 70), (102, 102, 156), (190, 153, 153), (153, 153, 153),
             (250, 170, 30), (220, 220, 0), (107, 142, 35), (152, 251, 152), (70, 130, 180), (220, 20, 60),
             (255, 0, 0), (0, 0, 142), (0, 0, 70), (0, 60, 100), (0, 80, 100), (0, 0, 230), (119, 11, 32)),
    ignore_index=255,
)
TABLES = ("camvid", "cityscapes", "carla")


def class_table(spec: str) -> ClassInfo:
    """``camvid``, ``cityscapes``, ``carla`` (the 23 tags) or a JSON file: a list of names, of
    ``{"name": ..., "color": [r, g, b]}`` objects, or the ``{"classes": [...], "palette": ...}`` form."""
    key = spec.strip().lower()
    if key == "camvid":
        return CAMVID
    if key == "cityscapes":
        return CITYSCAPES
    if key == "carla":
        return carla_classes(len(_CARLA_TABLE))
    path = Path(spec)
    if not path.is_file():
        raise DataError(f"--classes '{spec}': expected {', '.join(TABLES)} or a JSON file of class names")
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"{path}: not a readable JSON class list ({str(exc).splitlines()[0]})") from exc
    if isinstance(data, dict):
        return ClassInfo.from_json(data, str(path))
    return _from_list(data, str(path))


def _from_list(items: object, source: str) -> ClassInfo:
    if not isinstance(items, list) or not items:
        raise DataError(f"{source}: expected a non-empty JSON list of class names")
    names, colours = [], []
    fallback = default_palette(len(items))
    try:
        for i, item in enumerate(items):
            if isinstance(item, str):
                names.append(item)
                colours.append(fallback[i])
            else:
                names.append(str(item["name"]))
                colour = item.get("color") or item.get("colour")
                colours.append(tuple(int(v) for v in colour) if colour else fallback[i])
                if len(colours[-1]) != 3 or not all(0 <= v <= 255 for v in colours[-1]):
                    raise ValueError(f"colour of '{names[-1]}' is not [r, g, b] in 0-255")
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise DataError(f"{source}: class {len(names)}: expected a name or {{'name': ..., 'color': [r, g, b]}} "
                        f"({exc})") from exc
    return ClassInfo(tuple(names), tuple(colours), ignore_index=255)
