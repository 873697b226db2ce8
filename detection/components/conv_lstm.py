"""A convolutional LSTM cell and a layer that runs it over time (Shi et al., NeurIPS 2015).

torch has recurrent cells only for vectors. A ConvLSTM keeps the LSTM's gates but computes
them with a convolution over (input, hidden state), so the state is a feature *map*: each
position remembers how its neighbourhood moved, which is what a video autoencoder's
bottleneck needs. Used by :mod:`detection.detectors.video_autoencoder`.

    cell = ConvLSTMCell(32, 16)
    h, c = cell(x, None)                      # x: (B, 32, H, W) -> h, c: (B, 16, H, W)
    layer = ConvLSTM(32, 16)
    outputs, (h, c) = layer(seq)              # seq: (B, 32, T, H, W) -> (B, 16, T, H, W)
"""

from __future__ import annotations

import torch
from torch import nn


class ConvLSTMCell(nn.Module):
    """One step: gates from a ``kernel_size`` convolution of [input, hidden] (same size)."""

    def __init__(self, in_channels: int, hidden_channels: int, kernel_size: int = 3) -> None:
        super().__init__()
        if kernel_size % 2 == 0:
            raise ValueError("kernel_size must be odd so the state keeps its spatial size")
        self.in_channels = in_channels
        self.hidden_channels = hidden_channels
        # one convolution for the four gates (input, forget, output, candidate): one kernel
        # launch instead of four, the usual LSTM trick
        self.gates = nn.Conv2d(
            in_channels + hidden_channels, 4 * hidden_channels, kernel_size, padding="same"
        )

    def initial_state(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Zero hidden and cell state matching the batch and spatial size of ``x``."""
        batch, _, height, width = x.shape
        zeros = x.new_zeros(batch, self.hidden_channels, height, width)
        return zeros, zeros.clone()

    def forward(
        self, x: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor] | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, C_in, H, W) and the previous (h, c) -> the new (h, c), each (B, C_h, H, W)."""
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"expected input (B, {self.in_channels}, H, W), got {tuple(x.shape)}")
        hidden, cell = state if state is not None else self.initial_state(x)
        i, f, o, g = self.gates(torch.cat([x, hidden], dim=1)).chunk(4, dim=1)
        cell = torch.sigmoid(f) * cell + torch.sigmoid(i) * torch.tanh(g)
        hidden = torch.sigmoid(o) * torch.tanh(cell)
        return hidden, cell


class ConvLSTM(nn.Module):
    """A :class:`ConvLSTMCell` applied along the time axis of (B, C, T, H, W) tensors."""

    def __init__(self, in_channels: int, hidden_channels: int, kernel_size: int = 3) -> None:
        super().__init__()
        self.cell = ConvLSTMCell(in_channels, hidden_channels, kernel_size)

    def forward(
        self, sequence: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor] | None = None
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        """Outputs (B, C_h, T, H, W) (the hidden state at every step) and the last (h, c)."""
        outputs = []
        for step in range(sequence.shape[2]):
            state = self.cell(sequence[:, :, step], state)
            outputs.append(state[0])
        assert state is not None, "a sequence needs at least one step"
        return torch.stack(outputs, dim=2), state
