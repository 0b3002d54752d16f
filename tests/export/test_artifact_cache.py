"""The bench's export cache: a folder of this checkpoint's exports is used, not exported again."""

from __future__ import annotations


def test_the_exports_of_this_checkpoint_are_timed_not_made_again(exported, trained_run, tmp_path):
    """The demo's bench reuses its verified exports: same checkpoint and size only."""
    import shutil

    from unet_edge.export.artifact_cache import ArtifactCache

    out, _, _ = exported

    def cache(ckpt, size=None):
        return ArtifactCache(ckpt, size, None, tmp_path / "cache", lambda _m: None, exports=out)

    assert cache(trained_run / "best.pt").onnx("fp16") == out / "best.fp16.onnx"
    assert cache(trained_run / "best.pt")._exported("best.onnx") == out / "best.onnx"
    assert cache(trained_run / "best.pt", (32, 48))._exported("best.onnx") is None  # another size
    other = tmp_path / "other" / "best.pt"
    other.parent.mkdir()
    shutil.copy(trained_run / "best.pt", other)
    other.write_bytes(other.read_bytes() + b"\0")  # another checkpoint (its sha256 differs)
    assert cache(other)._exported("best.onnx") is None
