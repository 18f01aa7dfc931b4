"""Post-training quantisation of the *trained* network with vai_q_pytorch, inside AMD's Vitis AI container,
as the reference did (fpga_code/quantize_from_wandb.py): calibration on `--images` random validation
images at batch `--batch` (bicubic resize to 256, centre crop 224, ImageNet normalisation), then the
quantised model's top-1/top-5 on `--test-images` more, and the xmodel exported with deploy_check.
Prints one JSON line: the quantised accuracy and the Vitis AI version.

    python -m accelbench.profiling.backends.vitis_quantize --arch e1k3l1se-... --weights w.safetensors \\
        --calibration VAL_FOLDER --output DIR [--images 150 --batch 32 --test-images 100 --seed 0]
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

from accelbench.search_space import Architecture
from accelbench.training.folders import list_image_folder


def preprocess(path: str, resolution: int = 224):
    import numpy as np
    import torch
    from PIL import Image

    with Image.open(path) as image:
        image = image.convert("RGB")
        scale = 256 / min(image.size)
        image = image.resize((round(image.width * scale), round(image.height * scale)), Image.BICUBIC)
        left, top = (image.width - resolution) // 2, (image.height - resolution) // 2
        pixels = np.asarray(image.crop((left, top, left + resolution, top + resolution)), dtype=np.float32) / 255.0
    mean, std = np.array([0.485, 0.456, 0.406], dtype=np.float32), np.array([0.229, 0.224, 0.225], dtype=np.float32)
    return torch.from_numpy(((pixels - mean) / std).transpose(2, 0, 1).copy())


def batches(samples: list[tuple[str, int]], size: int):
    import torch

    for start in range(0, len(samples), size):
        chunk = samples[start : start + size]
        yield torch.stack([preprocess(path) for path, _ in chunk]), torch.tensor([label for _, label in chunk])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--arch", required=True, help="the compact string")
    parser.add_argument("--space", default="anb")
    parser.add_argument("--weights", required=True, help="the trained weights (safetensors)")
    parser.add_argument("--calibration", required=True, help="an ImageNet-layout validation folder")
    parser.add_argument("--output", required=True)
    parser.add_argument("--images", type=int, default=150)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--test-images", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    arguments = parser.parse_args()

    import pytorch_nndct  # the Vitis AI container's vai_q_pytorch
    import torch
    from pytorch_nndct.apis import torch_quantizer
    from safetensors.torch import load_file

    from accelbench.search_space.builder import build

    model = build(Architecture.from_compact(arguments.arch, arguments.space)).eval()
    model.load_state_dict(load_file(arguments.weights))
    _, samples = list_image_folder(Path(arguments.calibration))
    chosen = random.Random(arguments.seed).sample(samples, min(len(samples), arguments.images + arguments.test_images))
    calibration, test = chosen[: arguments.images], chosen[arguments.images :]
    example = torch.zeros(1, 3, 224, 224)

    quantizer = torch_quantizer("calib", model, (example,), output_dir=arguments.output)
    with torch.no_grad():
        for images, _ in batches(calibration, arguments.batch):
            quantizer.quant_model(images)
    quantizer.export_quant_config()

    quantizer = torch_quantizer("test", model, (example,), output_dir=arguments.output)
    top1 = top5 = 0
    with torch.no_grad():
        for images, labels in batches(test, 1):
            ranked = quantizer.quant_model(images).topk(5, dim=1).indices
            top1 += int((ranked[:, 0] == labels).sum())
            top5 += int((ranked == labels[:, None]).any(dim=1).sum())
    quantizer.export_xmodel(output_dir=arguments.output, deploy_check=True)
    print(json.dumps({"quantized_top1": 100.0 * top1 / max(1, len(test)), "quantized_top5": 100.0 * top5 / max(1, len(test)),
                      "test_images": len(test), "calibration_images": len(calibration), "vitis_ai": getattr(pytorch_nndct, "__version__", None)}))


if __name__ == "__main__":
    main()
