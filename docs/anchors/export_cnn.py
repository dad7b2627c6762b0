#!/usr/bin/env python3
"""Writes cnn.onnx: the reference CNN (conv 3x3 1->32, ReLU, max pool 2, conv 3x3 32->64, ReLU,
max pool 2, dense 1600->10; NCHW, batch dimension free) with PyTorch's default initialisation, for
timing ONNX Runtime's float inference beside `a2q bench infer` (speed does not depend on the weights).

    /usr/bin/python3 export_cnn.py     # Debian python3-torch; writes cnn.onnx here
"""
import torch
import torch.nn as nn
import torch.nn.functional as F


class CNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3)
        self.conv2 = nn.Conv2d(32, 64, 3)
        self.fc = nn.Linear(1600, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        return self.fc(x.flatten(1))


torch.manual_seed(0)
torch.onnx.export(CNN().eval(), torch.randn(128, 1, 28, 28), "cnn.onnx", input_names=["x"],
                  output_names=["y"], opset_version=13, dynamic_axes={"x": {0: "n"}, "y": {0: "n"}})
