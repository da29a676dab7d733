"""Foundation models: features and promptable masks learnt at scale (Part V).

- :mod:`.dino`: ``dino_vits16``, ``dino_vitb16`` and ``dino_vit_tiny``; DINO's self-distillation and
  k-means / PCA on patch features (Caron et al. 2021);
- :mod:`.sam`: ``sam_vit_b``, ``sam_vit_l``, ``sam_vit_h`` and ``sam_tiny``, the predictor and the
  automatic mask generator (Kirillov et al. 2023).
"""

from . import dino, sam

__all__ = ["dino", "sam"]
