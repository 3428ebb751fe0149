"""Forward hooks the compiler attaches to torch modules (hooks keep state_dict keys unchanged).

- `ChannelsFirst`: a channels-first layer (conv, pool, norm, upsample) applied to
  an input whose channel axis is not the first one (a [B, T, F] sequence's F)
  sees that axis moved to the front ([B, F, T]), and its output is moved back.
- `first_output`: a torch module returning a tuple (nn.LSTM's (output, (h, c)))
  passes on its first element.
"""


class ChannelsFirst:
    """Forward hooks moving the channel axis (`axis`, counted without the batch dim) to dim 1 and back.

    `ChannelsFirst(axis).attach(module)` registers both; a plain object, so the module's state_dict
    keys stay its own."""

    def __init__(self, axis: int):
        self.axis = axis

    def before(self, module, inputs):
        return (inputs[0].movedim(self.axis + 1, 1),) + tuple(inputs[1:])

    def after(self, module, inputs, output):
        return output.movedim(1, self.axis + 1)

    def attach(self, module):
        module.register_forward_pre_hook(self.before)
        module.register_forward_hook(self.after)
        return module


def first_output(module, inputs, output):
    """Forward hook: a tuple output becomes its first element."""
    return output[0] if isinstance(output, (tuple, list)) else output
