"""Hook that plots the training loss and accuracy curves to a PNG file."""
import os.path as osp
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
from mmengine.dist import master_only
from mmengine.hooks import Hook
from mmengine.logging import print_log

from mmaction.registry import HOOKS

#: message-hub info key under which validation results are kept (saved in
#: checkpoints, so the curve survives ``--resume``)
VAL_HISTORY_KEY = 'curve_plot/val_history'


@HOOKS.register_module()
class DiSTCurvePlotHook(Hook):
    """Write a loss/accuracy curve plot into the work directory.

    The figure has two panels, both over epochs (fractional for
    iterations):

    - left: training loss per iteration (thin) and its per-epoch mean;
    - right: training top-1 accuracy (per-epoch mean of the per-batch value
      logged by the head) and validation metrics (one point per validation).

    It reads the scalars MMEngine already logs (``train/<loss_key>``,
    ``train/<train_acc_key>`` in the message hub) and keeps validation
    results in the message hub too, so a resumed run plots its whole
    history. The PNG is (re)written after each validation and at the end
    of training, with matplotlib's non-interactive Agg canvas, on rank 0
    only.

    Args:
        out_file (str): File name, relative to the runner's ``work_dir``
            (or absolute). Defaults to ``'curves.png'``.
        loss_key (str): Training scalar drawn on the left. Defaults to
            ``'loss'``.
        train_acc_key (str): Training accuracy scalar. Defaults to
            ``'top1_acc'``.
        val_keys (Sequence[str]): Validation metrics drawn on the right.
            Defaults to ``('acc/top1',)``.
        dpi (int): Resolution. Defaults to 100.
    """

    priority = 'LOW'

    def __init__(self,
                 out_file: str = 'curves.png',
                 loss_key: str = 'loss',
                 train_acc_key: str = 'top1_acc',
                 val_keys: Sequence[str] = ('acc/top1', ),
                 dpi: int = 100) -> None:
        if not out_file.lower().endswith('.png'):
            raise ValueError(f'out_file must end with .png, got {out_file!r}')
        self.out_file = out_file
        self.loss_key = loss_key
        self.train_acc_key = train_acc_key
        self.val_keys = tuple(val_keys)
        self.dpi = dpi

    def after_val_epoch(self,
                        runner,
                        metrics: Optional[Dict[str, float]] = None) -> None:
        """Record this validation's metrics and refresh the plot."""
        if not self._in_training(runner):  # e.g. a standalone runner.val()
            return
        history = list(runner.message_hub.get_info(VAL_HISTORY_KEY, []))
        values = {
            k: float(v)
            for k, v in (metrics or {}).items() if k in self.val_keys
        }
        history.append((float(runner.epoch), values))
        runner.message_hub.update_info(VAL_HISTORY_KEY, history, resumed=True)
        self.plot(runner)

    def after_train(self, runner) -> None:
        """Write the final plot."""
        path = self.plot(runner)
        if path is not None:
            print_log(
                f'Loss/accuracy curves saved to {path}', logger='current')

    @staticmethod
    def _in_training(runner) -> bool:
        # the ``train_loop`` property builds a loop when given a dict; only
        # look at it once the runner has built one
        from mmengine.runner import BaseLoop
        return isinstance(getattr(runner, '_train_loop', None), BaseLoop)

    def _scalar_history(self, runner, key: str) -> np.ndarray:
        buf = runner.message_hub.log_scalars.get(f'train/{key}')
        if buf is None:
            return np.zeros(0)
        return np.asarray(buf.data[0], dtype=np.float64)

    @master_only
    def plot(self, runner) -> Optional[str]:
        """Draw the figure and save it.

        Args:
            runner (Runner): The runner.

        Returns:
            str | None: The PNG path, or None when nothing was logged yet.
        """
        loss = self._scalar_history(runner, self.loss_key)
        acc = self._scalar_history(runner, self.train_acc_key)
        val = list(runner.message_hub.get_info(VAL_HISTORY_KEY, []))
        if loss.size == 0 and not val:
            return None
        iters_per_epoch = max(len(runner.train_dataloader), 1) \
            if self._in_training(runner) else max(loss.size, 1)
        path = self.out_file if osp.isabs(self.out_file) else osp.join(
            runner.work_dir, self.out_file)
        draw_curves(path, loss, acc, val, iters_per_epoch, self.val_keys,
                    self.dpi)
        return path


def _epoch_means(values: np.ndarray,
                 iters_per_epoch: int) -> Tuple[np.ndarray, np.ndarray]:
    """Mean of per-iteration values over each (possibly partial) epoch.

    Args:
        values (np.ndarray): Shape (N,), one value per iteration.
        iters_per_epoch (int): Iterations per epoch.

    Returns:
        tuple[np.ndarray, np.ndarray]: Epoch numbers (1-based, shape (E,))
        and means (shape (E,)).
    """
    num_epochs = int(np.ceil(values.size / iters_per_epoch))
    epochs = np.arange(1, num_epochs + 1, dtype=np.float64)
    means = np.array([
        values[i * iters_per_epoch:(i + 1) * iters_per_epoch].mean()
        for i in range(num_epochs)
    ])
    return epochs, means


def draw_curves(path: str,
                loss: np.ndarray,
                train_acc: np.ndarray,
                val_history: List[Tuple[float, Dict[str, float]]],
                iters_per_epoch: int,
                val_keys: Sequence[str],
                dpi: int = 100) -> None:
    """Draw loss (left) and accuracy (right) curves into a PNG file.

    Args:
        path (str): Output PNG path.
        loss (np.ndarray): Training loss per iteration, shape (N,).
        train_acc (np.ndarray): Training accuracy per iteration in [0, 1]
            (MMAction2 heads log fractions), shape (M,); may be empty.
        val_history (list[tuple[float, dict]]): ``(epoch, {metric: value})``
            per validation; values in [0, 1].
        iters_per_epoch (int): Iterations per epoch, to put iterations on
            the epoch axis.
        val_keys (Sequence[str]): Metrics of ``val_history`` to draw.
        dpi (int): Resolution. Defaults to 100.
    """
    if iters_per_epoch < 1:
        raise ValueError(
            f'iters_per_epoch must be >= 1, got {iters_per_epoch}')
    # the object-oriented API with the Agg canvas: no pyplot global state,
    # no display needed
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 4), dpi=dpi)
    FigureCanvasAgg(fig)
    ax_loss, ax_acc = fig.subplots(1, 2)
    if loss.size:
        x = np.arange(1, loss.size + 1) / iters_per_epoch
        ax_loss.plot(
            x,
            loss,
            color='tab:blue',
            alpha=0.3,
            lw=0.8,
            label='per iteration')
        ep, mean = _epoch_means(loss, iters_per_epoch)
        ax_loss.plot(ep, mean, 'o-', color='tab:blue', label='epoch mean')
        ax_loss.legend()
    ax_loss.set_xlabel('epoch')
    ax_loss.set_ylabel('training loss')
    ax_loss.set_title('Loss')
    ax_loss.grid(alpha=0.3)

    if train_acc.size:
        ep, mean = _epoch_means(train_acc, iters_per_epoch)
        ax_acc.plot(
            ep,
            100 * mean,
            'o-',
            color='tab:orange',
            label='train top-1 (epoch mean)')
    for key in val_keys:
        pts = [(e, m[key]) for e, m in val_history if key in m]
        if pts:
            e, v = zip(*pts)
            ax_acc.plot(e, 100 * np.asarray(v), 's-', label=f'val {key}')
    ax_acc.set_ylim(0, 100)
    ax_acc.set_xlabel('epoch')
    ax_acc.set_ylabel('accuracy (%)')
    ax_acc.set_title('Accuracy')
    ax_acc.grid(alpha=0.3)
    if ax_acc.lines:
        ax_acc.legend(loc='lower right')
    fig.tight_layout()
    fig.savefig(path)
