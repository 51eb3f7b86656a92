"""Data sets with named axes (trajectory × time × unit), their files, and synthetic data."""

from ._choice import IGNORED, ChoiceDataset, load_choice_csv, load_fly_folder, load_fly_folders, load_xyr_mat
from ._nwb import load_choice_nwb
from ._table import PRESETS, ChoiceColumns, load_choice_data, load_choice_table, save_table, to_table
from ._choice_sim import choice_inputs, closed_loop_inputs, simulate_choices
from ._dataset import Dataset
from ._generator import ActivityGenerator, covariance_sqrt
from ._synthetic import gaussian_inputs, simulate

__all__ = [
    "Dataset",
    "simulate",
    "gaussian_inputs",
    "ChoiceDataset",
    "load_choice_csv",
    "load_choice_table",
    "load_choice_data",
    "load_choice_nwb",
    "ChoiceColumns",
    "PRESETS",
    "IGNORED",
    "to_table",
    "save_table",
    "load_fly_folder",
    "load_fly_folders",
    "load_xyr_mat",
    "choice_inputs",
    "closed_loop_inputs",
    "simulate_choices",
    "ActivityGenerator",
    "covariance_sqrt",
]
