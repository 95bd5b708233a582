from tokenshuffle.sampling.generate import SamplingConfig, decode_step, generate, prefill
from tokenshuffle.sampling.guidance import SCHEDULES, CFGSchedule, cfg_combine
from tokenshuffle.sampling.logits import filter_logits, sample_logits

__all__ = [
    "SCHEDULES", "CFGSchedule", "SamplingConfig", "cfg_combine", "decode_step", "filter_logits", "generate",
    "prefill", "sample_logits",
]
