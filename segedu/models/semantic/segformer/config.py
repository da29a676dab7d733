"""SegFormer's configuration: one dataclass holds every size of the network (as nanoGPT's
``GPTConfig``), and the published sizes B0 to B5 are instances of it.

The Mix Transformer encoder has four stages; stage ``i`` has width ``hidden_sizes[i]``,
``depths[i]`` blocks of ``num_heads[i]`` heads, sequence-reduction ratio ``sr_ratios[i]`` and an
overlapping patch embedding of kernel ``patch_sizes[i]`` and stride ``strides[i]``. The published
sizes (Xie et al., NeurIPS 2021, the MiT-B0 ... B5 settings of the appendix; the NVlabs code's
``mit_b0`` ... ``mit_b5`` and ``transformers``' configurations) share the heads ``(1, 2, 5, 8)``,
the ratios ``(8, 4, 2, 1)``, the kernels ``(7, 3, 3, 3)``, the strides ``(4, 2, 2, 2)`` and the MLP
ratio 4; B0 is narrow ``(32, 64, 160, 256)``, B1 to B5 are ``(64, 128, 320, 512)`` and differ in
depth; the decoder is 256 wide for B0 and B1, 768 for B2 to B5.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

__all__ = ["SegformerConfig", "SEGFORMER_SIZES"]


@dataclass(frozen=True)
class SegformerConfig:
    """The sizes of a :class:`~.model.Segformer` (defaults: B0 for ADE20K's 150 classes).

    Args:
        num_classes: ``K``, the classes scored per pixel.
        in_channels: channels of the input image.
        hidden_sizes: width ``C_i`` of each of the four stages.
        depths: transformer blocks per stage.
        num_heads: attention heads per stage (``C_i`` must be a multiple).
        sr_ratios: sequence-reduction ratio ``R_i`` of each stage's attention (keys and values
            come from an ``R_i x R_i``-times smaller grid; 1 is plain self-attention).
        patch_sizes: kernel of each stage's overlapping patch embedding (padding ``k // 2``).
        strides: stride of each stage's patch embedding (``(4, 2, 2, 2)``: strides 4, 8, 16, 32).
        mlp_ratios: hidden width of each stage's Mix-FFN, as a multiple of ``C_i``.
        decoder_dim: width of the all-MLP decoder.
        drop_path_rate: stochastic depth of the last block, growing linearly from 0 over all the
            blocks (training only).
        classifier_dropout: dropout before the decoder's classifier (training only).
    """

    num_classes: int = 150
    in_channels: int = 3
    hidden_sizes: tuple[int, ...] = (32, 64, 160, 256)
    depths: tuple[int, ...] = (2, 2, 2, 2)
    num_heads: tuple[int, ...] = (1, 2, 5, 8)
    sr_ratios: tuple[int, ...] = (8, 4, 2, 1)
    patch_sizes: tuple[int, ...] = (7, 3, 3, 3)
    strides: tuple[int, ...] = (4, 2, 2, 2)
    mlp_ratios: tuple[int, ...] = (4, 4, 4, 4)
    decoder_dim: int = 256
    drop_path_rate: float = 0.1
    classifier_dropout: float = 0.1

    def __post_init__(self) -> None:
        per_stage = ("hidden_sizes", "depths", "num_heads", "sr_ratios", "patch_sizes", "strides",
                     "mlp_ratios")
        for name in per_stage:  # lists become tuples: the configuration stays hashable
            object.__setattr__(self, name, tuple(getattr(self, name)))
        stages = len(self.hidden_sizes)
        for name in per_stage:
            value = getattr(self, name)
            if len(value) != stages:
                raise ValueError(f"{name} has {len(value)} entries for {stages} stages: {value}")
            if any(isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in value):
                raise ValueError(f"{name} must hold positive integers, got {value}")
        for name in ("num_classes", "in_channels", "decoder_dim"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        for width, heads in zip(self.hidden_sizes, self.num_heads, strict=True):
            if width % heads:
                raise ValueError(f"a stage of width {width} cannot have {heads} heads "
                                 "(the width must be a multiple of the heads)")
        for name in ("drop_path_rate", "classifier_dropout"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"{name} must be in [0, 1), got {getattr(self, name)!r}")

    def updated(self, **changes) -> SegformerConfig:
        """A copy with ``changes`` (field names of this dataclass; another name is an error)."""
        known = {f.name for f in fields(self)}
        unknown = sorted(set(changes) - known)
        if unknown:
            raise ValueError(f"SegformerConfig has no field(s) {', '.join(unknown)}; "
                             f"its fields: {', '.join(sorted(known))}")
        return replace(self, **changes)


_WIDE = (64, 128, 320, 512)
# the published sizes (B0 .. B5), and segedu's slim one for the zoo (128 x 128 scenes on a CPU)
SEGFORMER_SIZES: dict[str, SegformerConfig] = {
    "b0": SegformerConfig(),
    "b1": SegformerConfig(hidden_sizes=_WIDE),
    "b2": SegformerConfig(hidden_sizes=_WIDE, depths=(3, 4, 6, 3), decoder_dim=768),
    "b3": SegformerConfig(hidden_sizes=_WIDE, depths=(3, 4, 18, 3), decoder_dim=768),
    "b4": SegformerConfig(hidden_sizes=_WIDE, depths=(3, 8, 27, 3), decoder_dim=768),
    "b5": SegformerConfig(hidden_sizes=_WIDE, depths=(3, 6, 40, 3), decoder_dim=768),
    "tiny": SegformerConfig(num_classes=6, hidden_sizes=(16, 32, 64, 128), num_heads=(1, 2, 4, 8),
                            decoder_dim=64),
}
