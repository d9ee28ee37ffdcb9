"""One runner per benchmark mode: a single iteration, timed.

:class:`ModeRunner` fetches a batch, runs the mode's :meth:`~ModeRunner.step`
with the variant's fast-path setting and records the wall time (with
:func:`torch.utils.benchmark.timer`, which waits for the accelerator), the
process CPU time and the time spent fetching the batch. The subclasses are
the modes:

* :class:`TrainRunner`: one optimizer step through ``model.train_step``;
* :class:`TestRunner`: ``model.test_step`` under ``torch.no_grad()``;
* :class:`ClipOnlyRunner`: the preprocessing and the frozen image tower
  alone, on the frames the backbone feeds it.

``RUNNERS[mode].for_variant(...)`` makes the runner of a mode on the model of
a :class:`VariantModel`.
"""
import copy
import time
from contextlib import nullcontext
from typing import (Callable, ContextManager, Dict, Iterable, Iterator, List,
                    Optional, Union)

import torch
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from torch.utils.benchmark import timer

from projects.dist.models.layers.fast_path import fast_path_mode
from ..model_inputs import spatial_features_fn
from .cli import ModeSpec

_AMP_DTYPES = dict(fp16=torch.float16, bf16=torch.bfloat16)


def autocast_context(amp: str, device: torch.device) -> ContextManager:
    """``torch.autocast`` for ``amp`` on ``device``, or a null context."""
    if amp == 'none':
        return nullcontext()
    return torch.autocast(device.type, dtype=_AMP_DTYPES[amp])


def optim_wrapper_cfg(cfg: Config, amp: str, device: torch.device) -> dict:
    """The optimizer wrapper config for a train mode.

    Uses the config's ``optim_wrapper`` (AdamW if it has none) with the type
    set from ``amp``: ``AmpOptimWrapper`` with that dtype on CUDA,
    ``OptimWrapper`` otherwise.

    Args:
        cfg (Config): The config.
        amp (str): ``'none'``, ``'fp16'`` or ``'bf16'``.
        device (torch.device): The benchmark device.

    Returns:
        dict: Config for ``build_optim_wrapper``.
    """
    default = dict(optimizer=dict(type='AdamW', lr=1e-4, weight_decay=1e-4))
    wrapper = copy.deepcopy(cfg.get('optim_wrapper', None) or default)
    wrapper = dict(wrapper)
    for key in ('type', 'loss_scale', 'dtype'):
        wrapper.pop(key, None)
    if amp != 'none' and device.type == 'cuda':
        wrapper.update(
            type='AmpOptimWrapper',
            dtype=dict(fp16='float16', bf16='bfloat16')[amp],
            loss_scale='dynamic')
    else:
        wrapper['type'] = 'OptimWrapper'
    return wrapper


class VariantModel:
    """The model of one variant (the config's own or a ``--variant``) and
    what the runners of its modes need.

    Args:
        cfg (Config): The variant's config.
        model (torch.nn.Module): The recognizer built from it, on the
            benchmark device.
        fast_path (frozenset): The fusion groups that run fast.
        compile_backend (str, optional): ``torch.compile`` the backbone (and
            the tower's part of it, for clip-only) with this backend; None
            leaves them as they are.
    """

    def __init__(self, cfg: Config, model: torch.nn.Module,
                 fast_path: frozenset, compile_backend: Optional[str]) -> None:
        self.cfg = cfg
        self.model = model
        self.fast_path = fast_path
        self.compile_backend = compile_backend
        self.backbone = model.backbone  # never the compiled one
        if compile_backend is not None:
            model.backbone = torch.compile(
                self.backbone, backend=compile_backend)
        self._spatial_features = None

    @property
    def spatial_features(self) -> Callable[[torch.Tensor], list]:
        """callable: The frozen tower's part of the backbone's forward
        (:func:`~projects.dist_tools.model_inputs.spatial_features_fn`)."""
        if self._spatial_features is None:
            fn = spatial_features_fn(self.backbone)
            if self.compile_backend is not None:
                fn = torch.compile(fn, backend=self.compile_backend)
            self._spatial_features = fn
        return self._spatial_features


class ModeRunner:
    """Runs single iterations of one mode and records their times.

    Subclasses implement :meth:`step`.

    Args:
        spec (ModeSpec): The mode.
        model (torch.nn.Module): The recognizer (its backbone possibly
            compiled).
        batches (Iterator[dict]): Endless source of batches.
        device (torch.device): The benchmark device.
        fast_path (bool | Iterable[str]): The fusion groups that run fast
            (see ``projects.dist.models.layers.fast_path``); True for all.
            Defaults to True.
    """

    #: The optimizer wrapper of a train mode; None for the other modes.
    optim_wrapper = None

    def __init__(self,
                 spec: ModeSpec,
                 model: torch.nn.Module,
                 batches: Iterator[dict],
                 device: torch.device,
                 fast_path: Union[bool, Iterable[str]] = True) -> None:
        self.spec = spec
        self.model = model
        self.batches = batches
        self.device = device
        self.fast_path = fast_path
        self.times: List[float] = []
        self.cpu_times: List[float] = []
        self.data_times: List[float] = []
        self.clips_per_iter: Optional[int] = None
        self.peak_cuda = 0

    @classmethod
    def for_variant(cls, spec: ModeSpec, variant: VariantModel,
                    batches: Iterator[dict],
                    device: torch.device) -> 'ModeRunner':
        """The runner of ``spec`` on the model of ``variant``.

        Args:
            spec (ModeSpec): The mode.
            variant (VariantModel): Its model.
            batches (Iterator[dict]): Endless source of batches.
            device (torch.device): The benchmark device.

        Returns:
            ModeRunner: The runner.
        """
        return cls(spec, variant.model, batches, device, variant.fast_path)

    def step(self, data: dict) -> None:
        """Run the mode once on a batch.

        Args:
            data (dict): A batch as the dataloader gives it (``inputs``,
                ``data_samples``).
        """
        raise NotImplementedError

    def _sync(self) -> None:
        if self.device.type == 'cuda':
            torch.cuda.synchronize(self.device)

    def run(self, timed: bool) -> None:
        """Run one iteration (fetch a batch, step, synchronise).

        Args:
            timed (bool): Record its time (False for warm-up).
        """
        t0 = time.perf_counter()
        data = next(self.batches)
        data_time = time.perf_counter() - t0
        clips = sum(x.shape[0] for x in data['inputs'])
        if self.device.type == 'cuda' and timed:
            torch.cuda.reset_peak_memory_stats(self.device)
        self._sync()
        c1 = time.process_time()
        t1 = timer()
        with fast_path_mode(self.fast_path):
            self.step(data)
            self._sync()
        t2 = timer()
        c2 = time.process_time()
        if timed:
            self.data_times.append(data_time)
            self.times.append(t2 - t1)
            self.cpu_times.append(c2 - c1)
            self.clips_per_iter = clips
            if self.device.type == 'cuda':
                self.peak_cuda = max(
                    self.peak_cuda,
                    torch.cuda.max_memory_allocated(self.device))


class TrainRunner(ModeRunner):
    """One optimizer step per iteration (``model.train_step``).

    On CUDA the wrapper (an ``AmpOptimWrapper`` for ``fp16``/``bf16``)
    autocasts; on CPU ``bf16`` runs the step inside ``torch.autocast``.

    Args:
        spec (ModeSpec): A ``train`` mode.
        model (torch.nn.Module): The recognizer.
        batches (Iterator[dict]): Endless source of batches.
        optim_wrapper: MMEngine optimizer wrapper of ``model``.
        device (torch.device): The benchmark device.
        fast_path (bool | Iterable[str]): See :class:`ModeRunner`.
    """

    def __init__(self,
                 spec: ModeSpec,
                 model: torch.nn.Module,
                 batches: Iterator[dict],
                 optim_wrapper,
                 device: torch.device,
                 fast_path: Union[bool, Iterable[str]] = True) -> None:
        super().__init__(spec, model, batches, device, fast_path)
        self.optim_wrapper = optim_wrapper

    @classmethod
    def for_variant(cls, spec: ModeSpec, variant: VariantModel,
                    batches: Iterator[dict],
                    device: torch.device) -> 'TrainRunner':
        """The runner, with an optimizer wrapper built from the variant's
        config (see :func:`optim_wrapper_cfg`)."""
        wrapper = build_optim_wrapper(
            variant.model, optim_wrapper_cfg(variant.cfg, spec.amp, device))
        return cls(spec, variant.model, batches, wrapper, device,
                   variant.fast_path)

    def step(self, data: dict) -> None:
        """One training step on ``data``."""
        self.model.train()
        amp = (
            nullcontext() if self.device.type == 'cuda' else autocast_context(
                self.spec.amp, self.device))
        with amp:
            self.model.train_step(data, self.optim_wrapper)


class TestRunner(ModeRunner):
    """``model.test_step`` (preprocessing, backbone, head), no gradients.

    Args: as :class:`ModeRunner`.
    """

    __test__ = False  # not a pytest test class

    def step(self, data: dict) -> None:
        """One inference step on ``data``."""
        self.model.eval()
        with torch.no_grad(), autocast_context(self.spec.amp, self.device):
            self.model.test_step(data)


class ClipOnlyRunner(ModeRunner):
    """The preprocessing and the frozen tower alone: inference's lower
    bound.

    Args:
        spec (ModeSpec): A ``clip-only`` mode.
        model (torch.nn.Module): The recognizer (for its preprocessor).
        batches (Iterator[dict]): Endless source of batches.
        spatial_features (callable): Clips (B, 3, T, H, W) to the frozen
            tower's block outputs, e.g.
            :func:`projects.dist_tools.model_inputs.spatial_features_fn`
            of the backbone (possibly compiled).
        device (torch.device): The benchmark device.
        fast_path (bool | Iterable[str]): See :class:`ModeRunner`.
    """

    def __init__(self,
                 spec: ModeSpec,
                 model: torch.nn.Module,
                 batches: Iterator[dict],
                 spatial_features: Callable[[torch.Tensor], list],
                 device: torch.device,
                 fast_path: Union[bool, Iterable[str]] = True) -> None:
        super().__init__(spec, model, batches, device, fast_path)
        self.spatial_features = spatial_features

    @classmethod
    def for_variant(cls, spec: ModeSpec, variant: VariantModel,
                    batches: Iterator[dict],
                    device: torch.device) -> 'ClipOnlyRunner':
        """The runner of the variant's frozen tower."""
        return cls(spec, variant.model, batches, variant.spatial_features,
                   device, variant.fast_path)

    def step(self, data: dict) -> None:
        """Preprocess ``data`` and run the frozen tower on its frames."""
        self.model.eval()
        with torch.no_grad(), autocast_context(self.spec.amp, self.device):
            inputs = self.model.data_preprocessor(data, False)['inputs']
            self.spatial_features(inputs.flatten(0, 1))  # (B*views, C,T,H,W)


#: The runner class of each mode.
RUNNERS: Dict[str, type] = {
    'train': TrainRunner,
    'test': TestRunner,
    'clip-only': ClipOnlyRunner
}
