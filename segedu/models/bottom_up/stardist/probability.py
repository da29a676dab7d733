r"""Object probability: StarDist's target for "is this pixel a good polygon centre?".

StarDist (Schmidt et al., MICCAI 2018, https://arxiv.org/abs/1806.03535) trains its probability
head on the *normalised Euclidean distance transform* of each object (``stardist.utils.edt_prob``)
rather than on a binary foreground mask:

.. math:: p(i, j) = \frac{\operatorname{EDT}_o(i, j)}
                           {\max_{(i', j') \in o} \operatorname{EDT}_o(i', j') + 10^{-10}},
          \qquad (i, j) \in o,

where :math:`\operatorname{EDT}_o(i, j)` is the Euclidean distance from pixel ``(i, j)`` of object
``o`` to the nearest pixel that is *not* in ``o`` (background or another, touching object), and
:math:`p = 0` on background. Pixels deep inside an object get a probability near 1, pixels on its
rim small values: the highest-probability pixels are the ones whose star polygon describes the
object best, so non-maximum suppression keeps them.

**The image border is not background.** Like StarDist, the distance is measured only to pixels
*inside the image* that do not belong to the object: an object cut by the image border is treated
as if it went on beyond it, so its pixels on the border are not forced to low probability.
(StarDist's scipy code grows each object's bounding box by one pixel on the sides *away* from the
border only; the result is the distance transform of ``labels == o`` over the whole image, which
is what we compute, per bounding box.) The one exception, also as StarDist: an image that is a
single object everywhere gets background around it (with StarDist's warning about an ill-defined
EDT), otherwise there would be no pixel to measure a distance to.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch
from scipy import ndimage as ndi

from .labels import as_label_image

__all__ = ["object_probability"]


def object_probability(instances: torch.Tensor | np.ndarray) -> torch.Tensor:
    """The ``(H, W)`` float32 normalised distance transform of every object (0 on background).

    Args:
        instances: ``(H, W)`` integer label image (numpy or torch), 0 = background; ids need not
            be consecutive.

    Returns:
        ``prob`` ``(H, W)`` float32 in ``[0, 1]``, equal to ``stardist.utils.edt_prob(instances)``.
    """
    labels = as_label_image(instances)
    height, width = labels.shape
    prob = np.zeros((height, width), np.float32)
    if labels.size == 0 or not labels.any():
        return torch.from_numpy(prob)
    if labels.min() == labels.max():  # one object everywhere: assume background around it
        warnings.warn("EDT of constant label image is ill-defined. (Assuming background around "
                      "it.)", stacklevel=2)
        labels = np.pad(labels, 1)
        return torch.from_numpy(object_probability(labels).numpy()[1:-1, 1:-1].copy())

    for index, box in enumerate(ndi.find_objects(labels), start=1):
        if box is None:  # an id that does not occur (non-consecutive ids)
            continue
        # 1. the object's bounding box, grown by one pixel where the image allows: a ring of
        #    non-object pixels around it (the distance to anything farther away is larger)
        grown = tuple(slice(max(s.start - 1, 0), min(s.stop + 1, n))
                      for s, n in zip(box, labels.shape, strict=True))
        mask = labels[grown] == index  # (h, w) bool
        # 2. distance of every object pixel to the nearest non-object pixel of the image (float64)
        edt = ndi.distance_transform_edt(mask)
        # 3. normalise by the object's largest distance; write the object's pixels only
        values = edt[mask] / (edt[mask].max() + 1e-10)
        region = prob[grown]
        region[mask] = values
    return torch.from_numpy(prob)
