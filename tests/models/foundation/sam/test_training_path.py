"""SAM's public training path: ``embed_images``, the prompt encoder, ``decode_all_masks``.

``Sam.forward`` runs without gradients and keeps masks 1..3 (multimask) or mask 0; the training
path keeps all four with gradients. Its low-resolution logits and IoUs are segment-anything's
(same weights, same prompts), and its up-sampled logits are ``postprocess_masks`` of them.
"""

from __future__ import annotations

import torch

from ._pairs import sams


def test_decode_all_masks_equals_segment_anything_with_gradients():
    reference, ours = sams(seed=5)
    gen = torch.Generator().manual_seed(0)
    image = torch.randint(0, 256, (3, 96, 128), generator=gen).float()  # resized, not square
    coords = torch.rand(2, 2, 2, generator=gen) * torch.tensor([128.0, 96.0])
    labels = torch.tensor([[1, 0], [1, 1]])
    boxes = torch.tensor([[10.0, 8.0, 90.0, 70.0], [40.0, 20.0, 120.0, 95.0]])
    record = {"image": image, "original_size": (60, 80), "point_coords": coords,
              "point_labels": labels, "boxes": boxes}

    embedding = ours.embed_images(image[None])  # (1, C, h, w)
    sparse, dense = ours.prompt_encoder(points=(coords, labels), boxes=boxes, masks=None)
    logits, low_res, iou = ours.decode_all_masks(embedding, sparse, dense, input_size=(96, 128),
                                                 original_size=(60, 80))
    assert logits.shape == (2, 4, 60, 80) and low_res.shape[:2] == (2, 4) and iou.shape == (2, 4)
    assert logits.requires_grad and iou.requires_grad  # the training path keeps gradients

    with torch.no_grad():
        for multimask, kept in ((True, slice(1, 4)), (False, slice(0, 1))):
            expected = reference([record], multimask_output=multimask)[0]
            torch.testing.assert_close(low_res[:, kept], expected["low_res_logits"], rtol=0,
                                       atol=1e-5)
            torch.testing.assert_close(iou[:, kept], expected["iou_predictions"], rtol=0,
                                       atol=1e-5)
            up = reference.postprocess_masks(expected["low_res_logits"], (96, 128), (60, 80))
            torch.testing.assert_close(logits[:, kept], up, rtol=0, atol=1e-5)


def test_embed_images_is_preprocess_then_the_image_encoder():
    reference, ours = sams(seed=7)
    images = torch.randint(0, 256, (2, 3, 128, 112), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = reference.image_encoder(reference.preprocess(images.float()))
        torch.testing.assert_close(ours.embed_images(images.float()), expected, rtol=0, atol=1e-5)
