from tokenshuffle.sampling.config import SamplingConfig
from tokenshuffle.sampling.generate import decode_step, generate, prefill
from tokenshuffle.sampling.guidance import SCHEDULES, CFGSchedule, cfg_combine
from tokenshuffle.sampling.logits import filter_logits, sample_logits
from tokenshuffle.sampling.rerank import best_of, code_loglik

__all__ = [
    "SCHEDULES", "CFGSchedule", "SamplingConfig", "best_of", "cfg_combine", "code_loglik", "decode_step",
    "filter_logits", "generate", "prefill", "sample_logits",
]
