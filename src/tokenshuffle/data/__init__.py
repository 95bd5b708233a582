"""Training and evaluation data: synthetic GenEval-style scenes, emoji/clipart sets, folder and tar readers,
the three input layouts (``sources``) and their encoding into code shards (``encode``).

Every dataset yields the same item: ``{"image": uint8 tensor (3, H, W), "caption": str, "metadata": dict}``;
batch them with ``collate_samples``.
"""

from tokenshuffle.data.folder import FolderWriter, ImageCaptionFolder
from tokenshuffle.data.images import collate_samples
from tokenshuffle.data.prompts import load_eval_prompts
from tokenshuffle.data.scene_render import render_scene
from tokenshuffle.data.scene_writer import write_scenes
from tokenshuffle.data.scenes import SceneDataset, SceneSpec, sample_scene
from tokenshuffle.data.shards import TarShardDataset, TarShardWriter, shards_from_dataset, write_tar_shards
from tokenshuffle.data.sources import open_source

__all__ = [
    "FolderWriter",
    "ImageCaptionFolder",
    "SceneDataset",
    "SceneSpec",
    "TarShardDataset",
    "TarShardWriter",
    "collate_samples",
    "load_eval_prompts",
    "render_scene",
    "open_source",
    "sample_scene",
    "shards_from_dataset",
    "write_scenes",
    "write_tar_shards",
]
