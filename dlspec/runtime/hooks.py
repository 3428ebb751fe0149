"""Forward hooks the compiler attaches to torch modules (hooks keep state_dict keys unchanged).

- `to_channels_first` / `to_time_major`: a channels-first layer (conv1d, pool,
  batchnorm) applied to a [B, T, F] sequence sees [B, F, T], and its output is
  turned back.
- `first_output`: a torch module returning a tuple (nn.LSTM's (output, (h, c)))
  passes on its first element.
"""


def to_channels_first(module, inputs):
    """Forward pre-hook: [B, T, F] -> [B, F, T]."""
    return (inputs[0].transpose(1, 2),) + tuple(inputs[1:])


def to_time_major(module, inputs, output):
    """Forward hook: [B, C, T] -> [B, T, C]."""
    return output.transpose(1, 2)


def first_output(module, inputs, output):
    """Forward hook: a tuple output becomes its first element."""
    return output[0] if isinstance(output, (tuple, list)) else output
