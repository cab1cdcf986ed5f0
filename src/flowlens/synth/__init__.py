"""Synthetic bank customer-service event logs with ground truth (domain.md section 6).

>>> from flowlens.synth import PRESETS, REMEDIES
>>> sorted(PRESETS)
['demo', 'large', 'tiny']
>>> "warm_handoff" in REMEDIES
True
"""

from flowlens.synth.bank import GenerationResult, generate_bank
from flowlens.synth.presets import PRESETS, Preset, get_preset
from flowlens.synth.remedies import REMEDIES, Remedy

__all__ = ["PRESETS", "REMEDIES", "GenerationResult", "Preset", "Remedy", "generate_bank", "get_preset"]
