"""Cut a torchvision network in two at one block: a frozen trunk and the part that trains.

When only a network's last block and head are fine-tuned, everything before that block
gives the same output for the same photo in every epoch and in every fold model. Run once,
its output can feed many fine-tunings (k folds and the final model) for little more than
the cost of one: the trunk is about 93 % of MobileNetV2's multiply-adds at 320 px, and
each further fine-tuning runs only the rest, forward and backward. ``torch.fx`` traces the
network's own ``forward`` with the block kept whole, so the cut needs no per-architecture
code; a network that does not trace, or whose later layers read an earlier value than the
block's input (a skip connection around the block), is not cut.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from torch import fx, nn


def split_at(model: nn.Module, block: str) -> tuple[fx.GraphModule, fx.Graph] | None:
    """(trunk, tail graph): ``trunk(x)`` is ``block``'s input; the tail graph computes the
    model's output from it. Build the tail for a model (or a copy of it) with
    ``fx.GraphModule(model, tail_graph)``: its modules are that model's own. None if the
    model cannot be cut there."""
    from torch import fx

    class KeepBlock(fx.Tracer):
        def is_leaf_module(self, module: nn.Module, qualified_name: str) -> bool:
            return qualified_name == block or super().is_leaf_module(module, qualified_name)

    try:
        graph = KeepBlock().trace(model)
    except Exception:  # any tracing failure just means "not cut"
        return None
    nodes = list(graph.nodes)
    cut = next(
        (i for i, n in enumerate(nodes) if n.op == "call_module" and n.target == block), None
    )
    if cut is None or len(nodes[cut].args) != 1 or nodes[cut].kwargs:
        return None
    source = nodes[cut].args[0]
    if not isinstance(source, fx.Node):
        return None
    tail = fx.Graph()
    env: dict[fx.Node, fx.Node] = {source: tail.placeholder("x")}
    for node in nodes[cut:]:
        if any(arg not in env for arg in node.all_input_nodes):
            return None  # a later layer reads something from before the block
        env[node] = tail.node_copy(node, lambda arg: env[arg])
    trunk = fx.Graph()
    trunk_env: dict[fx.Node, fx.Node] = {}
    for node in nodes[:cut]:
        trunk_env[node] = trunk.node_copy(node, lambda arg: trunk_env[arg])
    trunk.output(trunk_env[source])
    trunk_module = fx.GraphModule(model, trunk)
    trunk_module.graph.eliminate_dead_code()
    trunk_module.recompile()
    return trunk_module, tail
