"""segedu's SAM 2 against ``transformers``' ``Sam2Model`` (images) and ``Sam2VideoModel``
(video, frame by frame), with the same random weights.

A tiny SAM 2 (64 x 64 input; Hiera 16 wide with stages (1, 1, 2, 1), windows (4, 4, 4, 2), one
global block; FPN and decoder 128 wide; 2 memory-attention layers; 64-wide memories, so each
object pointer is 2 memory tokens, as the real model's is 4; 3 memory slots; pointers from 4
frames) gets random weights with unit gain (``N(0, 1 / fan_in)`` for matrices, 1 + N(0, 0.1) for
norm scales, N(0, 0.1) for other vectors; the learned "no memory", "no object" and temporal
embeddings included, which ``transformers`` initialises to zero). The shared
``tests/models/unit_gain.py`` is not used: with it (which also redraws the buffers, the prompt
encoder's Fourier matrix among them) both objects stayed present on every frame of each of eight
clips tried (object scores 0.27 to 1.13), so that the absent-object path would go untested.
:func:`~segedu.models.foundation.sam2.convert_transformers_state_dict` loads them into segedu's
:class:`~segedu.models.foundation.sam2.Sam2`. The memory width 64 is forced by ``transformers``
5.24, whose memory cross-attention takes keys of width 64 whatever the configuration
(``kv_in_dim=64``); 128 is the smallest embedding width that still splits the pointers.

``transformers`` keeps a second copy of the prompt encoder's random Fourier matrix
(``shared_image_embedding``) that its random initialisation draws independently; the original has
one matrix (``transformers``' conversion script of SAM copies it into both), so the reference's
copies are tied before comparing.

Scenarios (the video ones driven as ``transformers``' ``Sam2VideoProcessor`` does: the
session's ``add_point_inputs`` and ``obj_with_new_inputs``, then ``model(session, frame_idx)``
and ``propagate_in_video_iterator``):

(a) one image, a click and a box, three masks and one (dynamic multimask);
(b) a 4-frame clip, one click per object for two objects on frame 0, propagated frame by frame;
(c) then a click and a negative click per object on frame 2 (a tracked frame, so the clicks
    correct it with the memory), propagated again. segedu's propagation from frame 2 keeps the
    corrected frame, as facebookresearch/sam2 does; ``transformers`` 5.24 would recompute it
    without the clicks (dropping the correction), so its propagation resumes at frame 3, which
    reads the corrected frame's memory in both.

Measured (float32): image (a) differs by at most 1.9e-6 (mask logits up to 4.4); the prompted
frame 0 differs by at most 3.3e-6 (mask logits up to 4.6; the
unit-gain weights make them large); the propagated frames by up to 3.5e-5. The memories are stored
in bfloat16 by both (as the original SAM 2 does): a difference in the last float32 bits of a
memory feature sometimes rounds to the neighbouring bfloat16 value, one step of 2^-8 relative,
which the next frames carry. With both memories kept in float32 (a diagnostic run that rebinds
``torch.bfloat16`` to ``torch.float32`` for both implementations) the largest propagated difference
is 3.6e-6. The tolerance is therefore ``atol=1e-4, rtol=1e-4``, and a changed memory tensor moves
the propagated masks by 1.3e-3 (``no_obj_ptr``) to 1e3 (a memory key projection; tested by
:func:`test_a_changed_memory_weight_changes_the_propagated_frames`); a converter that swapped the
query and key projections of a memory self-attention moved them by 1e3 (a diagnostic run).

On this clip both objects are present on frames 0..3; the correction on frame 2 makes object 1
absent there (object score < 0: a blank mask, the "no object" pointer and spatial embedding in its
memory), which frame 3 then reads, so both paths are compared; every object score is at least
5e-3 away from 0, far beyond the differences, so no present/absent decision is left to rounding
(:func:`test_the_clip_covers_present_and_absent_objects`).
"""

from __future__ import annotations

import pytest
import torch

from segedu.models.foundation.sam2 import (
    Sam2Config,
    Sam2VideoPredictor,
    build_sam2,
    convert_transformers_state_dict,
    sam2_hiera_tiny,
)

transformers = pytest.importorskip("transformers")
from transformers.models.sam2_video.modeling_sam2_video import (  # noqa: E402
    Sam2VideoInferenceSession,
)

TOL = dict(atol=1e-4, rtol=1e-4)
FRAMES = 4
SEGEDU_CONFIG = Sam2Config(
    image_size=64, embed_dim=16, num_heads=1, stages=(1, 1, 2, 1), window_sizes=(4, 4, 4, 2),
    global_att_blocks=(3,), window_pos_embed_bkg_spatial_size=(4, 4), d_model=128,
    decoder_num_heads=2, decoder_mlp_dim=64, iou_head_hidden_dim=32, mem_dim=64, num_maskmem=3,
    memory_attention_layers=2, memory_attention_mlp_dim=64, fuser_hidden_dim=64,
    max_obj_ptrs_in_encoder=4)
CLICKS = dict(obj_ids=[1, 2], points=[[[20.0, 22.0]], [[45.0, 40.0]]], labels=[[1], [1]])
CORRECTION = dict(obj_ids=[1, 2],
                  points=[[[25.0, 25.0], [10.0, 10.0]], [[40.0, 44.0], [60.0, 5.0]]],
                  labels=[[1, 0], [1, 0]])


def _reference_config():
    backbone = dict(model_type="sam2_hiera_det_model", hidden_size=16, image_size=[64, 64],
                    blocks_per_stage=[1, 1, 2, 1], embed_dim_per_stage=[16, 32, 64, 128],
                    num_attention_heads_per_stage=[1, 2, 4, 8], window_size_per_stage=[4, 4, 4, 2],
                    global_attention_blocks=[3], window_positional_embedding_background_size=[4, 4])
    vision = dict(model_type="sam2_vision_model", backbone_config=backbone,
                  backbone_channel_list=[128, 64, 32, 16],
                  backbone_feature_sizes=[[16, 16], [8, 8], [4, 4]], fpn_hidden_size=128)
    return transformers.Sam2VideoConfig(
        vision_config=vision, prompt_encoder_config=dict(hidden_size=128, image_size=64,
                                                         patch_size=16),
        mask_decoder_config=dict(hidden_size=128, mlp_dim=64, num_attention_heads=2,
                                 iou_head_hidden_dim=32),
        image_size=64, num_maskmem=3, max_object_pointers_in_encoder=4,
        memory_attention_hidden_size=128, memory_attention_num_layers=2,
        memory_attention_feed_forward_hidden_size=64, memory_attention_rope_feat_sizes=[4, 4],
        memory_encoder_hidden_size=128, memory_encoder_output_channels=64,
        mask_downsampler_embed_dim=128, memory_fuser_embed_dim=128,
        memory_fuser_intermediate_dim=64)


@pytest.fixture(scope="module")
def pair():
    """``(reference video model, its state dict, segedu's Sam2)`` with the same random weights."""
    torch.manual_seed(0)
    reference = transformers.Sam2VideoModel(_reference_config()).eval()
    with torch.no_grad():
        for name, p in reference.named_parameters():
            if p.dim() >= 2:
                p.normal_(0, p[0].numel() ** -0.5)
            elif name.endswith("weight"):
                p.normal_(1, 0.1)
            else:
                p.normal_(0, 0.1)
        reference.shared_image_embedding.positional_embedding.copy_(
            reference.prompt_encoder.shared_embedding.positional_embedding)
    state = reference.state_dict()
    ours = build_sam2(SEGEDU_CONFIG)
    ours.load_state_dict(convert_transformers_state_dict(state))  # strict: every key, both ways
    return reference, state, ours


def _run_reference(reference, frames):
    """Scenarios (b) and (c) with ``transformers``: the list of ``(frame_idx, pred_masks,
    object_score_logits)`` in the order produced."""
    session = Sam2VideoInferenceSession(video=frames.clone(), video_height=64, video_width=64,
                                        dtype=torch.float32)

    def add(frame_idx, obj_ids, points, labels):
        for i, obj_id in enumerate(obj_ids):
            session.add_point_inputs(session.obj_id_to_idx(obj_id), frame_idx, {
                "point_coords": torch.tensor(points[i])[None, None],
                "point_labels": torch.tensor(labels[i], dtype=torch.int32)[None, None]})
        session.obj_with_new_inputs = list(obj_ids)
        return reference(session, frame_idx=frame_idx)

    outs = [add(0, **CLICKS), *reference.propagate_in_video_iterator(session)]
    # transformers would recompute frame 2 without the clicks; resume after it (module docstring)
    outs += [add(2, **CORRECTION), *reference.propagate_in_video_iterator(session,
                                                                          start_frame_idx=3)]
    return [(o.frame_idx, o.pred_masks, o.object_score_logits.reshape(-1)) for o in outs]


def _run_segedu(model, video):
    predictor = Sam2VideoPredictor(model)
    state = predictor.init_state(video)
    outs = [predictor.add_points(state, frame_idx=0, **CLICKS), *predictor.propagate(state)]
    outs += [predictor.add_points(state, frame_idx=2, **CORRECTION),
             *predictor.propagate(state, start_frame_idx=2)]
    return state, [(o.frame_idx, o.mask_logits, o.object_scores) for o in outs]


@pytest.fixture(scope="module")
def video_runs(pair):
    """Both runs of scenarios (b) and (c) on the same random 4-frame clip."""
    reference, _, ours = pair
    torch.manual_seed(4)
    video = torch.rand(FRAMES, 3, 64, 64)
    state, segedu_outs = _run_segedu(ours, video)
    return video, _run_reference(reference, state.frames), segedu_outs


def test_every_key_is_mapped_to_a_parameter_of_the_same_shape(pair):
    _, state, ours = pair
    converted = convert_transformers_state_dict(state)
    ours_state = ours.state_dict()
    assert set(converted) == set(ours_state)
    assert all(converted[k].shape == ours_state[k].shape for k in converted)


@pytest.mark.parametrize("multimask", [True, False])
def test_one_image_with_a_click_and_a_box(pair, multimask):
    """(a): masks, IoUs and object scores of ``Sam2Model`` (the image model: the video model's
    weights without the memory)."""
    reference_video, state, ours = pair
    config = reference_video.config
    image_config = transformers.Sam2Config(
        vision_config=config.vision_config.to_dict(),
        prompt_encoder_config=config.prompt_encoder_config.to_dict(),
        mask_decoder_config=config.mask_decoder_config.to_dict())
    reference = transformers.Sam2Model(image_config).eval()
    reference.load_state_dict({k: v for k, v in state.items() if k in reference.state_dict()})
    torch.manual_seed(2)
    image = torch.randn(1, 3, 64, 64)
    points, labels = torch.tensor([[[20.0, 30.0]]]), torch.tensor([[1]])
    box = torch.tensor([[10.0, 12.0, 40.0, 50.0]])
    with torch.no_grad():
        expected = reference(pixel_values=image, input_points=points[None],
                             input_labels=labels[None], input_boxes=box[None],
                             multimask_output=multimask)
        masks, iou, score = ours.predict_image(image, points=points, labels=labels, boxes=box,
                                               multimask_output=multimask)
    assert masks.shape == (1, 3 if multimask else 1, 16, 16)
    torch.testing.assert_close(masks, expected.pred_masks[:, 0], **TOL)
    torch.testing.assert_close(iou, expected.iou_scores[:, 0], **TOL)
    torch.testing.assert_close(score, expected.object_score_logits[:, 0], **TOL)


def test_two_objects_clicked_on_frame_0_are_propagated_frame_by_frame(video_runs):
    """(b): the prompted frame 0 and the propagation over frames 0..3."""
    _, expected, ours = video_runs
    assert [o[0] for o in ours[:5]] == [0, 0, 1, 2, 3]
    for (t, masks, scores), (t_ref, masks_ref, scores_ref) in zip(ours[:5], expected[:5],
                                                                  strict=True):
        assert t == t_ref and masks.shape == (2, 1, 16, 16)
        torch.testing.assert_close(masks, masks_ref, **TOL)
        torch.testing.assert_close(scores, scores_ref, **TOL)


def test_the_clip_covers_present_and_absent_objects(video_runs):
    _, expected, ours = video_runs
    scores = torch.stack([o[2] for o in ours])
    assert scores.abs().min() > 5e-3
    assert (scores > 0).any() and (scores < 0).any()


def test_a_correction_on_a_later_frame_is_propagated(video_runs):
    """(c): clicks on the tracked frame 2 (read with the memory), then frame 3 again."""
    _, expected, ours = video_runs
    assert [o[0] for o in ours[5:]] == [2, 2, 3] and [o[0] for o in expected[5:]] == [2, 3]
    # the correction, and frame 3 that remembers it
    for (t, masks, scores), (t_ref, masks_ref, scores_ref) in zip(
            [ours[5], ours[7]], expected[5:], strict=True):
        assert t == t_ref
        torch.testing.assert_close(masks, masks_ref, **TOL)
        torch.testing.assert_close(scores, scores_ref, **TOL)
    # propagation kept the corrected frame 2
    assert torch.equal(ours[6][1], ours[5][1])
    # the correction changed frame 2's masks: the comparison is not of a repeated result
    assert (ours[5][1] - ours[3][1]).abs().max() > 1e-2


@pytest.mark.parametrize("name", [
    "memory_attention.layers.1.cross_attn_image.k_proj.weight",
    "maskmem_tpos_enc",
    "obj_ptr_tpos_proj.weight",
    "memory_encoder.fuser.layers.0.pwconv1.weight",
    "no_obj_ptr",
    "no_obj_embed_spatial",
])
def test_a_changed_memory_weight_changes_the_propagated_frames(pair, video_runs, name):
    """A test that can fail: one memory tensor changed (plus N(0, 0.1) noise) leaves frame 0 (no
    memory) alone and moves the tracked frames beyond the tolerance."""
    _, state, _ = pair
    video, expected, _ = video_runs
    model = build_sam2(SEGEDU_CONFIG)
    converted = convert_transformers_state_dict(state)
    generator = torch.Generator().manual_seed(3)
    converted[name] = converted[name] + 0.1 * torch.randn(converted[name].shape,
                                                          generator=generator)
    model.load_state_dict(converted)
    _, ours = _run_segedu(model, video)
    torch.testing.assert_close(ours[0][1], expected[0][1], **TOL)
    changes = [(ours[i][1] - expected[j][1]).abs().max().item()
               for i, j in [(2, 2), (3, 3), (4, 4), (7, 6)]]
    assert max(changes) > 1e-3


def test_the_converter_refuses_unknown_keys_and_two_position_matrices(pair):
    _, state, _ = pair
    with pytest.raises(ValueError, match="no rule"):
        convert_transformers_state_dict({**state, "mask_decoder.extra.weight": torch.zeros(1)})
    untied = dict(state)
    untied["shared_image_embedding.positional_embedding"] = torch.zeros_like(
        state["shared_image_embedding.positional_embedding"])
    with pytest.raises(ValueError, match="one random Fourier matrix"):
        convert_transformers_state_dict(untied)


def test_bad_inputs_get_clear_errors(pair):
    _, _, ours = pair
    predictor = Sam2VideoPredictor(ours)
    with pytest.raises(ValueError, match=r"\(T, 3, H, W\)"):
        predictor.init_state(torch.rand(3, 64, 64))
    state = predictor.init_state(torch.rand(2, 3, 64, 64))
    with pytest.raises(IndexError, match="frame_idx 5 is out of range for a video of 2 frames"):
        predictor.add_points(state, frame_idx=5, **CLICKS)
    with pytest.raises(ValueError, match="1 points but 2 labels"):
        predictor.add_points(state, frame_idx=0, obj_ids=[1], points=[[[1.0, 2.0]]],
                             labels=[[1, 1]])
    with pytest.raises(ValueError, match="add points first"):
        next(predictor.propagate(state))
    with pytest.raises(ValueError, match=r"images must be \(B, 3, 64, 64\)"):
        ours.predict_image(torch.rand(1, 3, 32, 32))
    with pytest.raises(ValueError, match=r"points must be \(B, N, 2\)"):
        ours.predict_image(torch.rand(1, 3, 64, 64), points=torch.zeros(1, 2),
                           labels=torch.ones(1, 2))


def test_the_official_configuration_converts_to_sam2_hiera_tiny():
    """``transformers``' default ``Sam2VideoConfig`` (SAM 2.1 Hiera-T, the configuration of
    ``facebook/sam2.1-hiera-tiny``) converts to ``sam2_hiera_tiny``'s names and shapes, with the
    same number of parameters (38,962,498; the paper's table says 38.9 M). Both are built on the
    meta device (shapes only, no memory, no weights drawn); the check of the second Fourier
    matrix needs values, so that copy is left out here (tested above)."""
    with torch.device("meta"):
        reference = transformers.Sam2VideoModel(transformers.Sam2VideoConfig())
        ours = sam2_hiera_tiny()
    state = reference.state_dict()
    del state["shared_image_embedding.positional_embedding"]
    converted = convert_transformers_state_dict(state)
    ours_state = ours.state_dict()
    assert set(converted) == set(ours_state)
    assert all(converted[k].shape == ours_state[k].shape for k in converted)
    count = sum(p.numel() for p in ours.parameters())
    assert count == sum(p.numel() for p in reference.parameters()) == 38_962_498


def test_forward_tracks_as_the_video_predictor(pair, video_runs):
    """``Sam2.forward`` (:meth:`Sam2.track`, the loop the zoo trains) gives the predictor's masks
    and object scores, frame by frame, for objects clicked on frame 0 (two objects with their own
    banks in the predictor, one batch of two here)."""
    _, _, ours = pair
    video, _, predicted = video_runs
    frames = Sam2VideoPredictor(ours).init_state(video).frames
    points = torch.tensor(CLICKS["points"])
    labels = torch.tensor(CLICKS["labels"])
    with torch.no_grad():
        masks, scores = ours(frames, points, labels)
    assert masks.shape == (FRAMES, 2, 1, 16, 16) and scores.shape == (FRAMES, 2, 1)
    # predicted[0] is frame 0 (prompted), predicted[1:5] the propagation over frames 0..3
    for t in range(FRAMES):
        torch.testing.assert_close(masks[t], predicted[1 + t][1], **TOL)
        torch.testing.assert_close(scores[t, :, 0], predicted[1 + t][2], **TOL)
    with pytest.raises(ValueError, match=r"points must be \(B, N, 2\)"):
        ours(frames, points[0], labels)
