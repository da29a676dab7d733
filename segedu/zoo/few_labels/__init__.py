"""Learning with fewer labels, measured: five U-Nets at one budget (chapter 19).

``python -m segedu.zoo.few_labels <method> [--steps N] [--seed K] [--out DIR] [--work DIR]``
trains one of

- ``supervised``: the zoo's U-Net on the labelled 5 % alone (the first 100 of 2000 training
  scenes of 128 x 128, seed 0, as :mod:`segedu.zoo.semantic` draws them);
- ``pseudo_labels``: self-training (:mod:`segedu.semi.pseudo_labels`) in ``rounds`` rounds: the
  ``supervised`` run's model (its shipped checkpoint: train it first) labels the other 1900
  scenes, keeping the pixels where it is at least ``threshold`` sure; a new U-Net trains on
  labelled and pseudo-labelled scenes, then labels them again for the next round;
- ``mean_teacher``: the mean teacher (:mod:`segedu.semi.mean_teacher`) on the 100 labelled and the
  1900 unlabelled scenes; the student sees Gaussian noise, the teacher other noise and the image
  flipped left-right (its prediction flipped back); the teacher is the model kept;
- ``full``: all 2000 scenes labelled, the ceiling;
- ``cam``: image-level labels only (which classes each of the 2000 scenes shows): a
  :class:`~segedu.semi.CAMClassifier` trained on them, its CAMs turned into pseudo-masks
  (:func:`~segedu.semi.cam_pseudo_masks`), a U-Net trained on those.

**One budget for all**: every network (U-Net or classifier) trains ``steps`` optimizer steps of
``batch`` images (800 of 8 by default, small enough for a shared CPU; the U-Nets see random 64 x 64
crops, the scale of the held-out scenes kept), Adam from ``lr`` with a
cosine decay to 0, one thread on the CPU, with the zoo's loss (cross-entropy + soft Dice;
pseudo-labelled pixels that are not sure are left out). The steps of the semi-supervised runs
take half their batch from the labelled scenes and half from the others. What each method costs
beyond that (the teacher run that ``pseudo_labels`` starts from, its rounds, the classifier of
``cam``) is in its card.

Each run writes ``unet_fewlabels_<method>.pt`` (float16) and its card ``.md`` into ``--out``
(default the zoo's ``checkpoints/``), scored on the zoo's held-out split
(:func:`segedu.zoo.scores.evaluate`), and keeps a resumable state of every phase in ``--work``
(default ``<segedu cache>/few_labels``): a run that stops continues where it stopped.

**Scarcer labels.** ``--labelled F`` keeps the masks of another share of the scenes (the first
``round(F * 2000)``; 0.05 by default); with ``--suffix`` the run's files get a name of their own,
e.g. ``--labelled 0.001 --suffix _2scenes`` (2 labelled scenes).

**Seeds.** ``--seed K`` (default 0) sets what is random in training: the networks'
initialisation, the data order, the crops and the noise; the scenes and which of them are
labelled stay the same. ``--seeds 0 1 2 [--runs DIR]`` trains the method once per seed into
``DIR/seed<k>/`` (default ``zoo_runs/few_labels``; a finished seed is skipped if its card
records the settings asked for, and refused if it records others; an interrupted one
resumes), ships the median seed's files into ``--out`` and adds the ``## Seeds`` section (each
seed's IoUs, mean ± sd) to its card. ``pseudo_labels`` of seed k starts from ``supervised`` of
seed k, so the supervised seeds come first.
"""

from .config import IGNORE, METHODS, FewLabelConfig, card_path, checkpoint_path
from .recipe import card_scores, train
from .runs import (
    card_spread,
    load_cam_classifier,
    load_few_label_model,
    main,
    run_seeds,
    same_settings,
)

__all__ = ["METHODS", "IGNORE", "FewLabelConfig", "train", "checkpoint_path", "card_path",
           "card_scores", "run_seeds", "same_settings", "card_spread", "load_few_label_model",
           "load_cam_classifier", "main"]
