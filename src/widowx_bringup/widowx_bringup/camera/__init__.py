"""Webcams: a plain-Python capture class (`capture.Camera`) and the ROS node that publishes it."""
from .capture import Camera, Frame, StaleFrameError
from .source import CameraError, CaptureConfig, SourceInfo

__all__ = ["Camera", "CameraError", "CaptureConfig", "Frame", "SourceInfo", "StaleFrameError"]
