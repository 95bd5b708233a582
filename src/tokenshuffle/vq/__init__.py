"""VQ image tokenizers: architecture, LlamaGen checkpoint import, training losses."""

from tokenshuffle.vq.autoencoder import VQOutput, VQTokenizer
from tokenshuffle.vq.config import PRESET_NAMES, VQConfig
from tokenshuffle.vq.quantizer import VectorQuantizer

__all__ = ["PRESET_NAMES", "VQConfig", "VQOutput", "VQTokenizer", "VectorQuantizer"]
