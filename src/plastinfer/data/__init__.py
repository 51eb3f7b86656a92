"""Data sets with named axes (trajectory × time × unit), their files, and synthetic data."""

from ._dataset import Dataset
from ._synthetic import gaussian_inputs, simulate

__all__ = ["Dataset", "simulate", "gaussian_inputs"]
