"""Horizontal flip that also swaps direction-dependent labels."""
from numbers import Integral
from typing import Dict, Optional, Sequence, Tuple

import numpy as np

from mmaction.datasets.transforms import Flip
from mmaction.registry import TRANSFORMS

#: Something-Something V2 classes that a horizontal flip turns into each
#: other, as (label id, label id) in MMAction2's ``sthv2`` label order
#: (``projects/dist/label_maps/sthv2.txt``, the alphabetical order of the
#: official ``something-something-v2-labels.json``):
#: 86/87 "Pulling something from left to right" / "... right to left",
#: 93/94 "Pushing something from left to right" / "... right to left",
#: 166/167 "Turning the camera left/right while filming something".
SSV2_FLIP_PAIRS: Tuple[Tuple[int, int], ...] = (
    (86, 87),
    (93, 94),
    (166, 167),
)


@TRANSFORMS.register_module()
class DiSTLabelSwapFlip(Flip):
    """Flip a clip horizontally and swap left/right label pairs.

    The official DiST recipe for Something-Something V2 uses no plain flip;
    instead, with probability 0.5 it mirrors the whole clip and exchanges the
    labels of the classes whose meaning a mirror reverses (see
    :data:`SSV2_FLIP_PAIRS`). Other labels are kept. The decision is made once
    per sample, so all frames are flipped together.

    This is MMAction2's :class:`Flip` with its ``flip_label_map`` built from
    symmetric, validated pairs. Place it after cropping/resizing, like
    ``Flip``.

    Required keys: ``imgs`` (list of ``(H, W, 3)`` arrays), ``label`` (int),
    ``img_shape``, ``modality``.

    Modified keys: ``imgs``, ``label``; added keys: ``flip``,
    ``flip_direction``.

    Args:
        label_pairs (Sequence[Sequence[int]]): Pairs of label ids swapped by
            a flip. Defaults to :data:`SSV2_FLIP_PAIRS`.
        flip_ratio (float): Probability of flipping. Defaults to 0.5.
        num_classes (int, optional): If given, every id in ``label_pairs``
            must be in ``[0, num_classes)``. Defaults to None.
    """

    def __init__(self,
                 label_pairs: Sequence[Sequence[int]] = SSV2_FLIP_PAIRS,
                 flip_ratio: float = 0.5,
                 num_classes: Optional[int] = None) -> None:
        if not 0.0 <= flip_ratio <= 1.0:
            raise ValueError(f'flip_ratio must be in [0, 1], got {flip_ratio}')
        self.label_pairs = self._check_pairs(label_pairs, num_classes)
        flip_label_map = {}
        for a, b in self.label_pairs:
            flip_label_map[a] = b
            flip_label_map[b] = a
        super().__init__(
            flip_ratio=flip_ratio,
            direction='horizontal',
            flip_label_map=flip_label_map)

    @staticmethod
    def _check_pairs(
            label_pairs: Sequence[Sequence[int]],
            num_classes: Optional[int] = None) -> Tuple[Tuple[int, int], ...]:
        """Validate ``label_pairs`` and return them as a tuple of tuples."""
        pairs, seen = [], set()
        for pair in label_pairs:
            pair = tuple(pair)
            if len(pair) != 2 or not all(
                    isinstance(i, Integral) for i in pair):
                raise ValueError(f'each label pair must be two ints, got '
                                 f'{pair!r}')
            a, b = int(pair[0]), int(pair[1])
            if a == b:
                raise ValueError(f'a label pair must hold two different '
                                 f'labels, got {pair!r}')
            for i in (a, b):
                if i < 0 or (num_classes is not None and i >= num_classes):
                    raise ValueError(f'label {i} in pair {pair!r} is out of '
                                     f'range; expected 0 <= label < '
                                     f'num_classes ({num_classes})')
                if i in seen:
                    raise ValueError(f'label {i} appears in more than one '
                                     f'pair of {label_pairs!r}; each label '
                                     f'may be swapped with one partner only')
                seen.add(i)
            pairs.append((a, b))
        return tuple(pairs)

    def transform(self, results: Dict) -> Dict:
        """Flip ``imgs`` with probability ``flip_ratio`` and swap the label.

        Args:
            results (dict): The result dict with ``imgs`` (list of
                ``(H, W, 3)`` arrays) and an integer ``label``.

        Returns:
            dict: ``results``, flipped (and relabelled) or unchanged, with
            ``flip`` telling which.
        """
        label = results.get('label')
        if isinstance(label, np.ndarray) and label.ndim == 0:
            label = label.item()
        if not isinstance(label, Integral):
            raise TypeError(f'{type(self).__name__} needs a single integer '
                            f'label, got {label!r} of type {type(label)}')
        results['label'] = int(label)
        return super().transform(results)

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(label_pairs={self.label_pairs}, '
                f'flip_ratio={self.flip_ratio})')
