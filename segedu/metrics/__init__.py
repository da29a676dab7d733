"""Segmentation metrics: functions on whole label maps and update/compute classes that accumulate
over batches (and over the processes of a multi-GPU run, through their ``states()``)."""

from .pixel_accuracy import PixelAccuracy, pixel_accuracy

__all__ = ["pixel_accuracy", "PixelAccuracy"]
