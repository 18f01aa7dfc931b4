"""Post-training quantisation with vai_q_pytorch, run inside AMD's Vitis AI container:
`python -m profiling.backends.vitis_quantize --arch e1k3l1se-... --calibration DIR --output DIR`."""

from __future__ import annotations

import argparse
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--arch", required=True)
    parser.add_argument("--calibration", required=True)
    parser.add_argument("--output", required=True)
    parser.add_argument("--images", type=int, default=100)
    arguments = parser.parse_args()

    import torch
    from pytorch_nndct.apis import torch_quantizer  # the Vitis AI container's vai_q_pytorch

    from search_space import Architecture
    from search_space.builder import build
    from training.data import ImageFolderData, SampleRequest, normalise

    model = build(Architecture.from_compact(arguments.arch)).eval()
    images = ImageFolderData(Path(arguments.calibration), train=False)
    example = torch.zeros(1, 3, 224, 224)
    quantizer = torch_quantizer("calib", model, (example,), output_dir=arguments.output)
    with torch.no_grad():
        for index in range(min(arguments.images, len(images))):
            image, _ = images[SampleRequest(index, 0, 224, 0)]
            quantizer.quant_model(normalise(image[None]))
    quantizer.export_quant_config()
    quantizer = torch_quantizer("test", model, (example,), output_dir=arguments.output)
    with torch.no_grad():
        quantizer.quant_model(example)
    quantizer.export_xmodel(output_dir=arguments.output, deploy_check=False)


if __name__ == "__main__":
    main()
