"""Serving the runtime to other processes and machines through NVIDIA Triton Inference Server."""
