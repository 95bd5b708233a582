"""tokenshuffle: Token-Shuffle (Ma et al., 2025) autoregressive text-to-image generation."""

from tokenshuffle.model import LMConfig, TokenShuffle, TokenShuffleLM, TokenUnshuffle, shuffle_tokens, unshuffle_tokens
from tokenshuffle.pipeline import TextToImagePipeline
from tokenshuffle.sampling import CFGSchedule, SamplingConfig, generate
from tokenshuffle.vq import VQConfig, VQTokenizer

__all__ = [
    "CFGSchedule",
    "LMConfig",
    "SamplingConfig",
    "TextToImagePipeline",
    "TokenShuffle",
    "TokenShuffleLM",
    "TokenUnshuffle",
    "VQConfig",
    "VQTokenizer",
    "generate",
    "shuffle_tokens",
    "unshuffle_tokens",
]
