"""Plastic circuits in discrete time: ``init(key) -> state``, ``step(state, input, rule)``."""

from ._bandit import BanditCircuit, BanditInput, BanditRecord, BanditState
from ._base import AbstractCircuit, rollout, rollouts
from ._choice import PAPER_BLOCKS, ChoiceCircuit, ChoiceInput, ChoiceRecord, ChoiceState
from ._feedforward import LayerInput, LayerRecord, LayerState, PlasticLayer
from ._lateral import LateralNetwork, LateralRecord, LateralState
from ._lif import (InputProtocol, LIFInput, LIFNeuron, LIFRecord, LIFState, SpikeInput, input_spikes,
                   lif_realisation, simulate_lif)

__all__ = ["AbstractCircuit", "rollout", "rollouts", "PlasticLayer", "LayerState", "LayerInput", "LayerRecord",
           "BanditCircuit", "BanditState", "BanditInput", "BanditRecord",
           "ChoiceCircuit", "ChoiceState", "ChoiceInput", "ChoiceRecord", "PAPER_BLOCKS",
           "LateralNetwork", "LateralState", "LateralRecord",
           "LIFNeuron", "LIFState", "LIFRecord", "SpikeInput", "InputProtocol", "input_spikes", "simulate_lif",
           "LIFInput", "lif_realisation"]

from ._spec import CIRCUIT_KINDS, circuit_from_spec, circuit_to_spec  # noqa: E402

__all__ += ["circuit_from_spec", "circuit_to_spec", "CIRCUIT_KINDS"]
