from tokenshuffle.model.config import LMConfig
from tokenshuffle.model.decoder import Decoder, DecoderConfig
from tokenshuffle.model.lm import TokenShuffleLM
from tokenshuffle.model.shuffle import TokenShuffle, TokenUnshuffle, shuffle_tokens, unshuffle_tokens
from tokenshuffle.model.window_ar import WindowAR
from tokenshuffle.model.window_pos import WindowPosition

__all__ = ["Decoder", "DecoderConfig", "LMConfig", "TokenShuffle", "TokenShuffleLM", "TokenUnshuffle", "WindowAR",
           "WindowPosition", "shuffle_tokens", "unshuffle_tokens"]
