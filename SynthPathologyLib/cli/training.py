"""The ``synthpathology train`` command: train the 3D Pix2Pix lesion generator.

The same run three ways (see :mod:`SynthPathologyLib.training.loop` for the run folder):

    synthpathology train --data DIR --out RUN [--config CFG.yaml] [--set key=value ...]
    Slicer --no-main-window --python-script SynthPathologyLib/train.py --data DIR --out RUN [...]
    torchrun --nproc-per-node N -m SynthPathologyLib.train --data DIR --out RUN [...]   (DDP)

``python -m SynthPathologyLib.train ARGS`` is the same as ``synthpathology train ARGS``. Without
``--config`` the settings are those of ``Resources/Training/glioma_phantom.yaml`` (the shipped
default model's recipe).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from .options import add_command


def cmd_train(args: argparse.Namespace) -> int:
    """Train the 3D Pix2Pix lesion generator on a BraTS-layout dataset with labels. The run folder --out
    gets config.yaml, losses.jsonl, checkpoints/last.pt (continue with --resume), model/ (the trained
    generator with its model card) and tensorboard/. The last validation_cases cases are held out:
    one with a lesion is validated by repainting it, a healthy one by inpainting a fixed mask
    (healthy_* metrics). For DDP on N GPUs: torchrun --nproc-per-node N -m SynthPathologyLib.train
    ARGS."""
    from ..training.config import load_config
    from ..training.loop import train

    saved = args.out / "config.yaml"
    config = load_config(saved if args.resume and saved.exists() else args.config, args.set)
    summary = train(config, args.data, args.out, resume=args.resume, device_name=args.device,
                    model_id=args.model_id, progress=not args.no_progress, command=args.command_line)
    print(json.dumps(summary))
    return 0


def add_training_command(commands: argparse._SubParsersAction) -> None:
    """Add ``train`` to the top-level sub-command parser."""
    parser = add_command(commands, "train", cmd_train,
                         help="train the lesion generator (3D Pix2Pix) on a labelled dataset")
    parser.add_argument("--data", required=True, type=Path, help="BraTS-layout dataset folder (cases with labels)")
    parser.add_argument("--out", required=True, type=Path, help="run folder")
    parser.add_argument("--config", type=Path,
                        help="YAML file of training settings (default: those of "
                             "Resources/Training/glioma_phantom.yaml, the shipped default model's recipe)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a setting, e.g. --set steps=500 --set network.channels=[8,16,32,64]")
    parser.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    parser.add_argument("--device", default="auto", help="auto (CUDA if available), cpu or cuda[:N]")
    parser.add_argument("--model-id", default="pix2pix", help="name written into the model card")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars (logs stay)")
