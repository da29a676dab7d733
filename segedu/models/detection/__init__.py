"""Detection and top-down instance segmentation: the parts that Faster R-CNN, Mask R-CNN and the
one-stage detectors share (feature pyramid, proposal matching and sampling, region proposals,
RoI heads) and the models built from them."""
