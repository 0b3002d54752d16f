"""DistributedDataParallel: two gloo processes on the CPU under torchrun."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from unet_edge.models.checkpoint import load_checkpoint

pytestmark = pytest.mark.slow


def test_torchrun_two_processes_train_one_model(tmp_path, synth_dir):
    out = tmp_path / "ddp"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           "-m", "unet_edge", "train", "--data", str(synth_dir), "--dataset", "folder", "--arch", "unet",
           "--width", "4", "--size", "32x48", "--epochs", "2", "--batch", "4", "--workers", "0",
           "--max-steps", "3", "--out", str(out), "--device", "cpu"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    assert "2 process(es)" in proc.stdout
    assert proc.stdout.count("epoch 2/2  loss") == 1  # only rank 0 reports
    ckpt = load_checkpoint(out / "last.pt")
    assert ckpt.resume.epoch == 1 and len(ckpt.resume.history) == 2
    # DDP keeps the replicas identical: no "module." prefix leaks into the saved weights
    assert not any(k.startswith("module.") for k in ckpt.state_dict)
