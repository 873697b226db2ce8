"""Cutting a network at one block: the trunk and the tail give the whole network's output."""

from __future__ import annotations

import pytest
import torch
import torchvision
from torch import fx, nn

from detection.components.network_split import split_at


@pytest.mark.parametrize(
    ("name", "block", "size"), [("mobilenet_v2", "features.18", 96), ("resnet18", "layer4.1", 64)]
)
def test_trunk_then_tail_is_the_whole_network(name: str, block: str, size: int) -> None:
    torch.manual_seed(0)
    model = torchvision.models.get_model(name, weights=None).eval()
    cut = split_at(model, block)
    assert cut is not None
    trunk, tail_graph = cut
    tail = fx.GraphModule(model, tail_graph)
    x = torch.randn(2, 3, size, size)
    with torch.no_grad():
        torch.testing.assert_close(tail(trunk(x)), model(x))
    # the tail's modules are the model's own: training one trains the other
    assert tail.get_submodule(block) is model.get_submodule(block)
    trunk_modules = {n for n, _ in trunk.named_modules()}
    assert not any(n == block or n.startswith(block + ".") for n in trunk_modules)


class Skip(nn.Module):
    """Adds an earlier layer's output back after the block: the block's input alone cannot
    feed the rest."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 4, 3)
        self.middle = nn.Conv2d(4, 4, 1)
        self.block = nn.Conv2d(4, 4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        stem = self.stem(x)
        return self.block(self.middle(stem)) + stem


class Branchy(nn.Module):
    """Control flow on a tensor's value: fx cannot trace it."""

    def __init__(self) -> None:
        super().__init__()
        self.block = nn.Linear(3, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.block(x) if x.sum() > 0 else x


@pytest.mark.parametrize(
    ("model", "block"),
    [(Skip(), "block"), (Branchy(), "block"), (nn.Sequential(nn.Linear(2, 2)), "nonexistent")],
)
def test_networks_that_cannot_be_cut_there_are_not(model: nn.Module, block: str) -> None:
    assert split_at(model, block) is None
