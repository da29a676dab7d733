"""Dense features (against timm's tokens and its last block's keys), PCA (against scikit-learn's
``PCA``, signs included: the same convention), k-means segmentation and co-segmentation (on
features with clear clusters; the partition against scikit-learn's ``KMeans``). float64, 1e-10."""


import numpy as np
import pytest
import torch
from sklearn.cluster import KMeans
from sklearn.decomposition import PCA
from timm.models.vision_transformer import VisionTransformer as TimmViT

from segedu.data import IMAGENET_MEAN, IMAGENET_STD
from segedu.models.foundation.dino import (
    cosegment,
    feature_kmeans,
    patch_features,
    pca,
    pca_rgb,
)
from segedu.models.foundation.dino.pca import pca_foreground_mask
from segedu.nn.vit import VisionTransformer

TOL = dict(atol=1e-10, rtol=1e-10)


@pytest.fixture(scope="module")
def pair():
    torch.manual_seed(0)
    reference = TimmViT(img_size=64, patch_size=8, embed_dim=96, depth=2, num_heads=3,
                        num_classes=0)
    with torch.no_grad():
        for name, p in reference.named_parameters():
            p.copy_(torch.randn_like(p) * 0.05
                    + (1.0 if "norm" in name and name.endswith("weight") else 0.0))
    reference = reference.double().eval()
    model = VisionTransformer(img_size=64, patch_size=8, embed_dim=96, depth=2,
                              num_heads=3).double().eval()
    model.load_state_dict(reference.state_dict(), strict=True)
    return model, reference


def test_token_and_key_features_equal_timm(pair):
    model, reference = pair
    images = torch.rand(2, 3, 64, 64, dtype=torch.float64)
    mean = torch.tensor(IMAGENET_MEAN, dtype=torch.float64).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, dtype=torch.float64).view(1, 3, 1, 1)
    normalised = (images - mean) / std
    with torch.no_grad():
        tokens = reference.forward_features(normalised)[:, 1:].reshape(2, 8, 8, 96)
        torch.testing.assert_close(patch_features(model, images), tokens, **TOL)
        torch.testing.assert_close(patch_features(model, normalised, normalize=False), tokens,
                                   **TOL)
        # keys / queries / values of timm's last block, heads concatenated
        x = reference._pos_embed(reference.patch_embed(normalised))
        x = reference.blocks[0](x)
        last = reference.blocks[1]
        qkv = last.attn.qkv(last.norm1(x)).reshape(2, 65, 3, 96)  # (B, T, q/k/v, heads * d)
        for i, facet in enumerate(("query", "key", "value")):
            expected = qkv[:, 1:, i].reshape(2, 8, 8, 96)
            torch.testing.assert_close(patch_features(model, images, facet=facet), expected, **TOL)
    assert (patch_features(model, torch.rand(1, 3, 48, 80, dtype=torch.float64)).shape
            == (1, 6, 10, 96))
    with pytest.raises(ValueError, match="facet"):
        patch_features(model, images, facet="attention")
    with pytest.raises(ValueError, match="multiples of the patch size"):
        patch_features(model, torch.rand(1, 3, 60, 64, dtype=torch.float64))


# ---------------------------------------------------------------------------------------------
# PCA


def anisotropic_features(seed=0, shape=(3, 5, 6, 12)):
    g = torch.Generator().manual_seed(seed)
    scales = torch.logspace(1, -1, shape[-1], dtype=torch.float64)
    return torch.randn(shape, generator=g, dtype=torch.float64) * scales + 3.0


def test_pca_equals_sklearn_signs_included():
    """Our sign convention is scikit-learn's (largest |loading| positive), so even the signs agree;
    any convention would agree up to sign: |scores| are compared too, as the weaker claim."""
    points = anisotropic_features().reshape(-1, 12)
    scores, components, mean = pca(points, 4)
    reference = PCA(n_components=4, svd_solver="full").fit(points.numpy())
    torch.testing.assert_close(mean, torch.from_numpy(reference.mean_), **TOL)
    torch.testing.assert_close(components, torch.from_numpy(reference.components_), **TOL)
    torch.testing.assert_close(scores, torch.from_numpy(reference.transform(points.numpy())), **TOL)
    torch.testing.assert_close(scores.abs(),
                               torch.from_numpy(np.abs(reference.transform(points.numpy()))), **TOL)
    largest = components.abs().argmax(dim=1)
    assert (components[torch.arange(4), largest] > 0).all()
    # the convention is deterministic: flipping the input's sign flips the scores, not
    # the components
    flipped_scores, flipped_components, _ = pca(-points, 4)
    torch.testing.assert_close(flipped_components, components, **TOL)
    torch.testing.assert_close(flipped_scores, -scores, **TOL)
    with pytest.raises(ValueError, match="n_components"):
        pca(points, 13)


def test_pca_rgb_is_min_max_scaled_joint_pca():
    features = anisotropic_features()
    rgb = pca_rgb(features)
    assert rgb.shape == (3, 5, 6, 3) and rgb.min() >= 0 and rgb.max() <= 1
    scores = PCA(n_components=3, svd_solver="full").fit_transform(features.reshape(-1, 12).numpy())
    expected = (scores - scores.min(0)) / (scores.max(0) - scores.min(0))
    torch.testing.assert_close(rgb.reshape(-1, 3), torch.from_numpy(expected), **TOL)
    assert pca_rgb(features[0], n_components=2).shape == (1, 5, 6, 2)  # one image (h, w, D)
    with pytest.raises(TypeError, match="floating"):
        pca_rgb(features.long())
    with pytest.raises(ValueError, match=r"\(B, h, w, D\)"):
        pca_rgb(features.reshape(-1, 12))


def test_pca_rgb_foreground_only():
    """A foreground blob in a background: the first component separates them; the PCA is refitted on
    the foreground (as scikit-learn on those rows) and the background is black."""
    g = torch.Generator().manual_seed(1)
    features = (torch.randn(2, 6, 6, 8, generator=g, dtype=torch.float64)
                * torch.logspace(0, -1, 8, dtype=torch.float64) * 0.3)
    foreground = torch.zeros(2, 6, 6, dtype=torch.bool)
    foreground[0, 1:4, 2:5] = True
    foreground[1, 3:6, 0:2] = True
    features[foreground] += torch.randn(8, generator=g, dtype=torch.float64) * 5
    first = PCA(n_components=1,
                svd_solver="full").fit_transform(features.reshape(-1, 8).numpy())[:, 0]
    first = (first - first.min()) / (first.max() - first.min())
    above = bool(first[foreground.reshape(-1).numpy()].mean() > 0.5)  # which side the blob fell on
    mask = pca_foreground_mask(features, threshold=0.5, foreground_above=above)
    assert torch.equal(mask, foreground)
    torch.testing.assert_close(mask.reshape(-1),
                               torch.from_numpy((first > 0.5) if above else (first < 0.5)))
    rgb = pca_rgb(features, foreground_threshold=0.5, foreground_above=above)
    assert (rgb[~foreground] == 0).all()
    scores = PCA(n_components=3, svd_solver="full").fit_transform(features[foreground].numpy())
    expected = (scores - scores.min(0)) / (scores.max(0) - scores.min(0))
    torch.testing.assert_close(rgb[foreground], torch.from_numpy(expected), **TOL)
    with pytest.raises(ValueError, match="foreground patches"):
        pca_rgb(features, foreground_threshold=1.5)


# ---------------------------------------------------------------------------------------------
# k-means segmentation and co-segmentation


def clustered(layout: torch.Tensor, means: torch.Tensor, seed: int,
              noise: float = 0.05) -> torch.Tensor:
    """Features ``(h, w, D)``: ``means[layout]`` plus a little noise."""
    g = torch.Generator().manual_seed(seed)
    return means[layout] + noise * torch.randn(*layout.shape, means.shape[1], generator=g,
                                               dtype=torch.float64)


MEANS = torch.randn(4, 16, generator=torch.Generator().manual_seed(7), dtype=torch.float64)


def layout_one():
    layout = torch.zeros(6, 8, dtype=torch.int64)  # 24 patches of cluster 0
    layout[:, 4:7] = 1  # 18 patches
    layout[:, 7] = 2  # 6 patches
    return layout


def test_feature_kmeans_recovers_clear_clusters():
    layout = layout_one()
    features = clustered(layout, MEANS, seed=0)
    for normalize in (True, False):
        labels = feature_kmeans(features, 3, normalize=normalize)
        # numbered by decreasing size
        assert labels.dtype == torch.int64 and torch.equal(labels, layout)
    # upsampled: each patch's label fills its 8 x 8 pixels
    big = feature_kmeans(features, 3, size=(48, 64))
    assert torch.equal(big, layout.repeat_interleave(8, 0).repeat_interleave(8, 1))
    assert feature_kmeans(features[None], 3, size=(30, 50)).shape == (30, 50)
    # the same partition as scikit-learn's KMeans on the normalised features
    unit = torch.nn.functional.normalize(features.reshape(-1, 16), dim=-1).numpy()
    theirs = KMeans(n_clusters=3, n_init=10, random_state=0).fit_predict(unit)
    ours = feature_kmeans(features, 3).reshape(-1).numpy()
    assert len(set(zip(ours, theirs, strict=True))) == 3


def test_cosegment_labels_are_consistent_across_images():
    """Cluster 0, 1, 2 in image 1; clusters 0, 2, 3 in image 2 (another size, another layout)."""
    layout_a = layout_one()
    layout_b = torch.full((4, 5), 3, dtype=torch.int64)  # 20 - 8 - 3 = 9 patches of cluster 3
    layout_b[:2, :4] = 0  # 8 patches of cluster 0
    layout_b[3, 2:] = 2  # 3 patches of cluster 2
    features = [clustered(layout_a, MEANS, seed=1), clustered(layout_b, MEANS, seed=2)]
    labels = cosegment(features, 4)
    assert [tuple(lab.shape) for lab in labels] == [(6, 8), (4, 5)]
    # overall sizes: cluster 0: 32, cluster 1: 18, cluster 3: 9, cluster 2: 9 (tie: k-means order)
    for true in range(4):
        found = torch.cat([lab[lay == true]
                           for lab, lay in zip(labels, (layout_a, layout_b), strict=True)])
        assert (found == found[0]).all(), f"cluster {true} split across labels"
    layouts = (layout_a, layout_b)
    mapping = {true: int(torch.cat([lab[lay == true]
                                    for lab, lay in zip(labels, layouts, strict=True)])[0])
               for true in range(4)}
    assert mapping[0] == 0 and mapping[1] == 1 and {mapping[2], mapping[3]} == {2, 3}
    # sizes per image, and a (B, h, w, D) tensor as input
    up = cosegment(features, 4, sizes=[(48, 64), (32, 40)])
    assert torch.equal(up[1], labels[1].repeat_interleave(8, 0).repeat_interleave(8, 1))
    batch = torch.stack([clustered(layout_a, MEANS, seed=3),
                         clustered(layout_a.flip(1), MEANS, seed=4)])
    joint = cosegment(batch, 3, sizes=(12, 16))
    assert torch.equal(joint[0], layout_a.repeat_interleave(2, 0).repeat_interleave(2, 1))
    assert torch.equal(joint[1], joint[0].flip(1))


def test_segmentation_bad_inputs():
    features = clustered(layout_one(), MEANS, seed=0)
    with pytest.raises(ValueError, match=r"\(h, w, D\)"):
        feature_kmeans(features.reshape(-1, 16), 3)
    with pytest.raises(TypeError, match="floating"):
        feature_kmeans(features.long(), 3)
    with pytest.raises(ValueError, match="larger than the number of points"):
        feature_kmeans(features, 49)
    with pytest.raises(ValueError, match="same descriptor size"):
        cosegment([features, features[..., :8]], 2)
    with pytest.raises(ValueError, match="sizes"):
        cosegment([features, features], 2, sizes=[(8, 8)] * 3)
    with pytest.raises(ValueError, match="empty"):
        cosegment([], 2)


def test_course_pipeline_on_the_tiny_model():
    """dino_vit_tiny on two 64 x 96 images: features, PCA colours, co-segmentation at image size."""
    from segedu.models import get_model

    torch.manual_seed(0)
    model = get_model("dino_vit_tiny").eval()
    images = torch.rand(2, 3, 64, 96)
    for facet in ("token", "key"):
        features = patch_features(model, images, facet=facet)
        assert features.shape == (2, 8, 12, 192)
        rgb = pca_rgb(features)
        assert rgb.shape == (2, 8, 12, 3) and 0 <= rgb.min() and rgb.max() <= 1
        labels = cosegment(features, 4, sizes=(64, 96))
        assert [tuple(lab.shape) for lab in labels] == [(64, 96)] * 2
        assert set(torch.cat([lab.flatten() for lab in labels]).tolist()) == {0, 1, 2, 3}
    attention = model.get_last_selfattention(images)
    assert attention.shape == (2, 3, 97, 97)
