"""Train the QW-Net / TAA tile classifier as PCSR trains its router (phase 1): ``python -m qwplugin.routing.train``.

1. **Data** (training split only): each sequence runs through :class:`~qwplugin.runtime.routed.RoutedQWNet`
   with k = -25 (everything heavy, so the heavy path is QW-Net with its own history, computed on the whole
   frame) while it keeps the TAA output and the classifier features of every frame: exactly the features
   the router sees at inference. Frames after a reset are skipped (``--skip`` frames of warm-up).
2. **Loss** (:func:`~qwplugin.routing.loss.routing_loss`): the heavy path is frozen (its outputs are data),
   the prediction is the per-tile soft mixture ``p_light TAA + p_heavy QW-Net``, L1 against the reference
   in the network domain ``x / (1 + x)``, plus the expected-heavy-fraction term (PCSR's 1000 : 3 ratio).
3. **Validation** (validation split, never the test scenes): at heavy fractions 1/4 and 1/2, the PSNR of
   the offline composite (the top-ranked tiles from QW-Net, the rest from TAA, no history feedback) for the
   trained classifier, the hand-set rule and the oracle ranking (by the true per-tile gain).

Known approximation: in the routed product QW-Net's history is the routed output; here it is QW-Net's own.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from qwplugin.data.dataset import SequenceDataset
from qwplugin.ops.colour import to_network
from qwplugin.routing.classifier import RoutingClassifier
from qwplugin.routing.decision import HEAVY
from qwplugin.routing.loss import routing_loss
from qwplugin.routing.weights import SHIPPED_CLASSIFIER, save_classifier
from qwplugin.runtime.frame import Frame


def sequence_frames(block: dict) -> list[Frame]:
    """The frames of one dataset block (:meth:`SequenceDataset.block`) as runtime :class:`Frame` objects."""
    t = block["color"].shape[0]
    return [Frame(color=np.array(block["color"][i], np.float32), motion_px=np.array(block["motion_px"][i], np.float32),
                  jitter_px=tuple(float(v) for v in block["jitter_px"][i]),
                  depth=np.array(block["depth"][i], np.float32), reset=bool(block["resets"][i]) or i == 0)
            for i in range(t)]


def collect(root: str, split: str, sequences: int, frames: int, skip: int, precision: str = "int4",
            tile: int = 64, log=print) -> dict[str, torch.Tensor]:
    """Per-frame (features, TAA, QW-Net, reference) of ``sequences`` sequences of ``split``, network domain,
    frames ``skip .. skip + frames - 1`` of each (warm histories); the sequences are spread evenly over the
    split (every ``len // sequences``-th). Returns stacked (F, C, H, W) tensors."""
    from qwplugin.runtime.routed import RoutedQWNet

    ds = SequenceDataset(root, split)
    stride = max(1, len(ds.entries) // sequences)
    ds.entries = ds.entries[::stride][:sequences]  # spread over the split's scenes
    out: dict[str, list[torch.Tensor]] = {"features": [], "light": [], "heavy": [], "target": [], "rule": []}
    for s in range(len(ds)):
        block = ds.block(s)
        fr = sequence_frames(block)
        h, w = block["color"].shape[1:3]
        routed = RoutedQWNet((w, h), precision=precision, k=-25.0, tile=tile, hysteresis=False)
        routed.keep_intermediates = True
        t0 = time.perf_counter()
        for i, f in enumerate(fr[:skip + frames]):
            heavy = routed.dispatch(f)
            if i < skip or f.reset:
                continue
            inter = routed.last_intermediates
            out["features"].append(inter["features"][0].float())
            out["light"].append(to_network(inter["light"][0]).half())
            out["heavy"].append(to_network(torch.from_numpy(heavy).permute(2, 0, 1)).half())
            out["target"].append(to_network(torch.from_numpy(np.array(block["reference"][i][..., :3], np.float32))
                                            .permute(2, 0, 1)).half())
            out["rule"].append(inter["probs"][0, HEAVY])
        routed.close()
        log(f"{split} sequence {s + 1}/{len(ds)}: {time.perf_counter() - t0:.1f} s")
    return {k: torch.stack(v) for k, v in out.items()}


def tile_gain(data: dict[str, torch.Tensor], tile: int) -> torch.Tensor:
    """(F, th, tw) per-tile reduction of the squared error when the tile takes QW-Net instead of TAA."""
    err_l = (data["light"].float() - data["target"].float()).square().mean(1, keepdim=True)
    err_h = (data["heavy"].float() - data["target"].float()).square().mean(1, keepdim=True)
    return torch.nn.functional.avg_pool2d(err_l - err_h, tile)[:, 0]


def composite_psnr(data: dict[str, torch.Tensor], scores: torch.Tensor, fraction: float, tile: int) -> float:
    """Mean PSNR (network domain, peak 1) of the composite taking QW-Net on the top ``fraction`` of each
    frame's tiles by ``scores`` (F, th, tw) and TAA elsewhere."""
    f, th, tw = scores.shape
    n = int(round(fraction * th * tw))
    psnrs = []
    for j in range(f):
        mask = torch.zeros(th * tw, dtype=torch.bool)
        if n:
            mask[scores[j].flatten().topk(n).indices] = True
        m = mask.view(th, tw).repeat_interleave(tile, 0).repeat_interleave(tile, 1)
        m = m[: data["light"].shape[2], : data["light"].shape[3]]
        comp = torch.where(m, data["heavy"][j].float(), data["light"][j].float())
        mse = float((comp - data["target"][j].float()).square().mean())
        psnrs.append(10 * np.log10(1.0 / max(mse, 1e-12)))
    return float(np.mean(psnrs))


def train(data: dict[str, torch.Tensor], tile: int, steps: int, batch: int, lr: float, seed: int,
          target_fraction: float = 0.5, log=print) -> RoutingClassifier:
    """PCSR phase 1 on collected data (module docstring)."""
    torch.manual_seed(seed)
    net = RoutingClassifier(tile=tile)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    gen = torch.Generator().manual_seed(seed)
    n = data["features"].shape[0]
    for step in range(steps):
        idx = torch.randint(0, n, (min(batch, n),), generator=gen)
        probs = net(data["features"][idx])
        h, w = data["light"].shape[2:]
        th, tw = probs.shape[2:]
        pad = (0, tw * tile - w, 0, th * tile - h)

        def padded(key):
            x = data[key][idx].float()
            return torch.nn.functional.pad(x, pad, mode="replicate") if any(pad) else x

        loss = routing_loss(padded("heavy"), padded("light"), probs, padded("target"), target_fraction,
                            rgb_weight=1000.0, fraction_weight=3.0)
        opt.zero_grad()
        loss["loss"].backward()
        opt.step()
        if step % 100 == 0 or step == steps - 1:
            log(f"step {step}: loss {float(loss['loss'].detach()):.4f} l1 {float(loss['l1'].detach()):.5f} "
                f"E[heavy] {float(loss['expected_heavy_fraction'].detach()):.3f}")
    return net.eval()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m qwplugin.routing.train", description=__doc__.split("\n")[0])
    p.add_argument("--data", default="data/train_v2")
    p.add_argument("--train-sequences", type=int, default=16)
    p.add_argument("--val-sequences", type=int, default=3)
    p.add_argument("--frames", type=int, default=10, help="frames per sequence after the warm-up")
    p.add_argument("--skip", type=int, default=2, help="warm-up frames per sequence (not used)")
    p.add_argument("--tile", type=int, default=64)
    p.add_argument("--steps", type=int, default=600)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=str(SHIPPED_CLASSIFIER))
    p.add_argument("--report", default=None, help="write the validation numbers as JSON here")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    t0 = time.perf_counter()
    tr = collect(args.data, "train", args.train_sequences, args.frames, args.skip, tile=args.tile)
    va = collect(args.data, "val", args.val_sequences, args.frames, args.skip, tile=args.tile)
    net = train(tr, args.tile, args.steps, args.batch, args.lr, args.seed)
    with torch.no_grad():
        scores = {"trained": net(va["features"])[:, HEAVY], "rule": va["rule"], "oracle": tile_gain(va, args.tile),
                  "random": torch.rand(va["rule"].shape, generator=torch.Generator().manual_seed(1))}
    result = {"val_frames": int(va["features"].shape[0]), "train_frames": int(tr["features"].shape[0])}
    for frac in (0.0, 0.25, 0.5, 1.0):
        result[f"psnr@{frac}"] = {k: round(composite_psnr(va, s, frac, args.tile), 3) for k, s in scores.items()}
        print(f"heavy fraction {frac}: " + ", ".join(f"{k} {v:.3f} dB" for k, v in result[f"psnr@{frac}"].items()))
    training = (f"PCSR phase 1 on {args.train_sequences} train_v2 training sequences x {args.frames} frames, "
                f"{args.steps} steps, batch {args.batch}, lr {args.lr}, seed {args.seed}")
    digest = save_classifier(args.out, net, {"training": training, "validation": result})
    result["sha256"], result["seconds"] = digest, round(time.perf_counter() - t0, 1)
    print(json.dumps(result, indent=1))
    if args.report:
        Path(args.report).write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
