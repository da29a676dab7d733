"""segedu: an open course on deep-learning image segmentation."""

__version__ = "0.1.0"
