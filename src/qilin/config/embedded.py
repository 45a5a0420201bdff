"""The shape of the embedded default's tiny model and demo ViT (the `embedded` and `embedded_vision` sections).

What is built from them, and how, is `qilin.embedded`; these classes only declare the keys.
"""

from __future__ import annotations

from dataclasses import dataclass

from qilin.config.fields import help_field as _help


@dataclass
class EmbeddedModelSettings:
    """Shape of the tiny Llama-style model built when model.path is 'embedded'."""

    vocab_size: int = _help("Size of the BPE vocabulary trained on the bundled corpus.", 4000)
    hidden_size: int = _help("Width of the model.", 256)
    num_layers: int = _help("Number of decoder layers.", 4)
    num_heads: int = _help("Attention heads (key/value heads are the same number).", 4)
    intermediate_size: int = _help("Width of the MLP.", 704)
    max_position_embeddings: int = _help("Longest sequence the model accepts.", 1024)
    seed: int = _help("Seed for the random initialisation.", 0)


@dataclass
class EmbeddedVisionSettings:
    """The tiny ViT pre-trained for the VL demo when vision.path is 'embedded'."""

    image_size: int = _help("Input resolution (pixels per side).", 64)
    patch_size: int = _help("Pixels per patch side; an image becomes (image_size / patch_size)^2 tokens.", 8)
    hidden_size: int = _help("Width of the ViT.", 128)
    num_layers: int = _help("Transformer layers.", 4)
    num_heads: int = _help("Attention heads.", 4)
    pretrain_images: int = _help("Synthetic scans (disjoint from the VL data) for contrastive pre-training.", 2000)
    pretrain_epochs: int = _help("Passes of contrastive pre-training.", 10)
    pretrain_lr: float = _help("Learning rate of contrastive pre-training.", 1e-3)
    vl_images: int = _help("Synthetic scans for the VL stages (captions and VQA); a further 20% are held out.", 1500)
    seed: int = _help("Seed of the image generator and the initialisation.", 0)
