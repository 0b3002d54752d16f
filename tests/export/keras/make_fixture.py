"""Makes the Keras fixture of tests/export/test_keras_unet.py: a small Keras U-Net in the style of the
Coursera assignment this project descends from (NHWC, RGB scaled to [0, 1], a softmax head), trained
briefly with a fixed seed on CamVid's train frames outside sequence 0006R0, saved and exported by
Keras, converted by tf2onnx, and its argmax masks on ten 0006R0 frames saved as the reference.

TensorFlow is never a dependency of unet-edge (it wants numpy 2): run this in a venv of its own,
with the OpenCV release of unet-edge's venv so that both resize the frames alike:

    python3 -m venv /tmp/tfvenv
    /tmp/tfvenv/bin/pip install tensorflow-cpu tf2onnx "opencv-python-headless==4.11.0.86"
    /tmp/tfvenv/bin/python tests/export/keras/make_fixture.py ../shared/data/camvid tests/export/keras
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

SIZE = (96, 128)  # H, W: the assignment's input
CLASSES = 11  # CamVid's; id 11 is void
HELD = "0006R0"  # the reference frames' street, never trained on
REFERENCE = 10
EPOCHS = 30
SEED = 7


def read(path: Path) -> np.ndarray:
    """A CamVid frame as the test feeds it: BGR, resized bilinearly to SIZE."""
    return cv2.resize(cv2.imread(str(path), cv2.IMREAD_COLOR), SIZE[::-1], interpolation=cv2.INTER_LINEAR)


def to_input(bgr: np.ndarray) -> np.ndarray:
    return bgr[..., ::-1].astype(np.float32) / 255.0


def unet(keras, filters=(16, 32, 64)):
    """Conv blocks down, Conv2DTranspose up with skip connections, a 1x1 softmax head."""
    layers = keras.layers
    x = inputs = keras.Input((*SIZE, 3))
    skips = []
    for f in filters[:-1]:
        x = layers.Conv2D(f, 3, padding="same", activation="relu")(x)
        x = layers.Conv2D(f, 3, padding="same", activation="relu")(x)
        skips.append(x)
        x = layers.MaxPooling2D()(x)
    x = layers.Conv2D(filters[-1], 3, padding="same", activation="relu")(x)
    for f, skip in zip(filters[-2::-1], skips[::-1]):
        x = layers.Conv2DTranspose(f, 3, strides=2, padding="same")(x)
        x = layers.Concatenate()([x, skip])
        x = layers.Conv2D(f, 3, padding="same", activation="relu")(x)
    outputs = layers.Conv2D(CLASSES, 1, activation="softmax")(x)
    return keras.Model(inputs, outputs)


def main(camvid: Path, out: Path) -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(SEED)
    tf.config.experimental.enable_op_determinism()
    train = sorted(p for p in (camvid / "train").glob("*.png") if not p.name.startswith(HELD))
    x = np.stack([to_input(read(p)) for p in train])
    y = np.stack([cv2.resize(cv2.imread(str(camvid / "trainannot" / p.name), cv2.IMREAD_GRAYSCALE), SIZE[::-1],
                             interpolation=cv2.INTER_NEAREST) for p in train]).astype(np.int32)
    weight = (y < CLASSES).astype(np.float32)  # void pixels teach nothing
    y = np.minimum(y, CLASSES - 1)
    model = unet(keras)
    model.compile(optimizer=keras.optimizers.Adam(2e-3), loss="sparse_categorical_crossentropy",
                  weighted_metrics=["accuracy"])
    model.fit(x, y, sample_weight=weight, batch_size=16, epochs=EPOCHS, shuffle=True, verbose=2)
    held = sorted((camvid / "train").glob(f"{HELD}_*.png"))
    picked = [held[i] for i in np.linspace(0, len(held) - 1, REFERENCE).round().astype(int)]
    probs = model.predict(np.stack([to_input(read(p)) for p in picked]), verbose=0)
    top2 = np.sort(probs, axis=-1)[..., -2:]
    print(f"{model.count_params()} parameters; reference frames' pixels within 0.05 of a tie: "
          f"{100 * np.mean(top2[..., 1] - top2[..., 0] < 0.05):.2f}%")
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        model.save(Path(tmp) / "unet.keras")  # then the README's recipe: the .keras file to a SavedModel
        subprocess.run([sys.executable, "-c", f"import keras; keras.saving.load_model('{tmp}/unet.keras')"
                        f".export('{tmp}/saved')"], check=True)
        subprocess.run([sys.executable, "-m", "tf2onnx.convert", "--saved-model", str(Path(tmp) / "saved"),
                        "--output", str(out / "keras_unet.onnx"), "--opset", "17"], check=True)
    np.savez_compressed(out / "keras_masks.npz", names=np.array([p.name for p in picked]),
                        masks=probs.argmax(-1).astype(np.uint8))


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
