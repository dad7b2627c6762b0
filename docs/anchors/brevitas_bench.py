#!/usr/bin/env python3
"""Brevitas's quantization-aware training speed on the reference CNN, beside `a2q bench train --quant Q`.

    PYTHONPATH=<brevitas>/src:<dependencies 2.0.1>/src:<unfoldNd> /usr/bin/python3 brevitas_bench.py [--images 6400]

Debian python3-torch, python3-packaging, python3-sympy, python3-typing-extensions and
dataset-fashion-mnist; Brevitas and its two pure-Python dependencies from their source trees (see
README.md here). The network is the one a2q's `--quant` recipes quantize: an 8-bit input quantizer,
conv 3x3 1->32 with 8-bit per-channel weights, ReLU quantized to 8 bits unsigned, max pool 2,
conv 3x3 32->64 (A2Q or A2Q+ at P = 16, or 8-bit per-channel for the baseline), 8-bit ReLU, max pool 2,
dense 1600->10 with 8-bit per-channel weights. Batch 128, Adam 1e-3, 2 threads, real Fashion-MNIST
images, one pass over the first --images images per recipe (after 5 warm-up steps). Prints one JSON line.
"""
import argparse, gzip, json, os, time
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import brevitas
import brevitas.nn as qnn
from brevitas.quant import (Int8AccumulatorAwareWeightQuant, Int8AccumulatorAwareZeroCenterWeightQuant,
                            Int8ActPerTensorFloat, Int8WeightPerChannelFloat, Uint8ActPerTensorFloat)

FMNIST = os.environ.get("FMNIST_DIR", "/usr/share/datasets/fashion-mnist")


def idx(name):
    with gzip.open(os.path.join(FMNIST, name)) as f:
        data = f.read()
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, np.uint8, offset=4 + 4 * ndim).reshape(dims)


class CNN(nn.Module):
    def __init__(self, recipe, acc_bits):
        super().__init__()
        hidden = {"baseline": {"weight_quant": Int8WeightPerChannelFloat},
                  "a2q": {"weight_quant": Int8AccumulatorAwareWeightQuant, "weight_accumulator_bit_width": acc_bits},
                  "a2q+": {"weight_quant": Int8AccumulatorAwareZeroCenterWeightQuant,
                           "weight_accumulator_bit_width": acc_bits}}[recipe]
        self.inp = qnn.QuantIdentity(act_quant=Int8ActPerTensorFloat, return_quant_tensor=True)
        self.conv1 = qnn.QuantConv2d(1, 32, 3, weight_quant=Int8WeightPerChannelFloat)
        self.relu1 = qnn.QuantReLU(act_quant=Uint8ActPerTensorFloat, return_quant_tensor=True)
        self.conv2 = qnn.QuantConv2d(32, 64, 3, **hidden)
        self.relu2 = qnn.QuantReLU(act_quant=Uint8ActPerTensorFloat, return_quant_tensor=True)
        self.fc = qnn.QuantLinear(1600, 10, bias=True, weight_quant=Int8WeightPerChannelFloat)

    def forward(self, x):
        x = self.relu1(F.max_pool2d(self.conv1(self.inp(x)), 2))
        x = self.relu2(F.max_pool2d(self.conv2(x), 2))
        return self.fc(x.flatten(1))


def rate(recipe, x, y, acc_bits):
    torch.manual_seed(0)
    model = CNN(recipe, acc_bits)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    perm = torch.randperm(len(x), generator=torch.Generator().manual_seed(0))
    model.train()

    def step(b):
        loss = F.cross_entropy(model(x[b]), y[b])
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss.item()

    for i in range(5):
        step(perm[i * 128:(i + 1) * 128])
    t0 = time.perf_counter()
    for i in range(0, len(x), 128):
        step(perm[i:i + 128])
    return len(x) / (time.perf_counter() - t0)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=6400)
    ap.add_argument("--acc-bits", type=int, default=16)
    ap.add_argument("--quant", default="a2q,a2q+,baseline")
    a = ap.parse_args()
    torch.set_num_threads(2)
    x = torch.from_numpy(idx("train-images-idx3-ubyte.gz")[:a.images].astype(np.float32) / 255.0).unsqueeze(1)
    y = torch.from_numpy(idx("train-labels-idx1-ubyte.gz")[:a.images].astype(np.int64))
    out = {"torch": torch.__version__, "brevitas": getattr(brevitas, "__version__", "source tree"), "acc_bits": a.acc_bits}
    for q in a.quant.split(","):
        out[q + "_train_images_per_sec"] = rate(q, x, y, a.acc_bits)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
