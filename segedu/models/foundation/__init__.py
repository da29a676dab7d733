"""Foundation models: features and promptable masks learnt at scale (Part V).

- :mod:`.clipseg`: ``clipseg_rd64`` and ``clipseg_tiny``, CLIPSeg's masks for text or image
  prompts (Lüddecke & Ecker 2022);
- :mod:`.dino`: ``dino_vits16``, ``dino_vitb16`` and ``dino_vit_tiny``; DINO's self-distillation and
  k-means / PCA on patch features (Caron et al. 2021);
- :mod:`.dinov2`: ``dinov2_vits14`` ... ``dinov2_vitg14_reg``, the DINOv2 ViT with LayerScale and
  optional registers (Oquab et al. 2023; Darcet et al. 2024), and the linear segmentation probe
  on its frozen patch tokens;
- :mod:`.sam`: ``sam_vit_b``, ``sam_vit_l``, ``sam_vit_h`` and ``sam_tiny``, the predictor and the
  automatic mask generator (Kirillov et al. 2023);
- :mod:`.sam2`: ``sam2_hiera_tiny`` and ``sam2_slim``, SAM 2's memory for video: prompt any frame,
  propagate (Ravi et al. 2024).
"""

from . import clipseg, dino, dinov2, sam, sam2

__all__ = ["clipseg", "dino", "dinov2", "sam", "sam2"]
