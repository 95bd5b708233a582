from tokenshuffle.model.config import LMConfig
from tokenshuffle.model.decoder import Decoder, DecoderConfig
from tokenshuffle.model.lm import TokenShuffleLM

__all__ = ["Decoder", "DecoderConfig", "LMConfig", "TokenShuffleLM"]
