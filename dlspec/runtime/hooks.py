"""Forward hooks the compiler attaches to torch modules (hooks keep state_dict keys unchanged).

- `ChannelsFirst`: a channels-first layer (conv, pool, norm, upsample) applied to
  an input whose channel axis is not the first one (a [B, T, F] sequence's F)
  sees that axis moved to the front ([B, F, T]), and its output is moved back.
  In a token model, a layer that changes the number of time steps also carries
  the padding lengths through (a `rule` of planning/lengths.py): the pads are
  left out of its windows (zeros; -inf for max pooling), its output's steps past
  the new lengths are zero, and the new lengths are kept in the model's
  SequenceContext for the layers after it.
- `first_output`: a torch module returning a tuple (nn.LSTM's (output, (h, c)))
  passes on its first element.
"""
import torch


class ChannelsFirst:
    """Forward hooks moving the channel axis (`axis`, counted without the batch dim) to dim 1 and back.

    `ChannelsFirst(axis).attach(module)` registers both; a plain object, so the module's state_dict
    keys stay its own. With a `rule` and the model's `context` it also carries the sequence lengths."""

    def __init__(self, axis: int, rule=None, context=None):
        self.axis, self.rule, self.context = axis, rule, context
        self.pending = None  # (lengths in, steps in) of the call under way
        # fixed by the rule, so worked out once here rather than on every forward pass:
        # a max pooling's pads must lose every comparison; a global average over T steps (zeros at the
        # pads) is rescaled to the mean over the L real steps
        self.pad_fill = float("-inf") if rule is not None and rule[0] != "scale" and rule[-1] else 0.0
        self.mean_over_real = rule is not None and rule[0] == "global" and not rule[1]

    def before(self, module, inputs):
        x = inputs[0]
        lengths = self.context.lengths_for(x) if self.rule is not None and x.dim() == 3 else None
        self.pending = None
        if lengths is not None:
            self.pending = (lengths, x.shape[1])
            x = x.masked_fill(~_real_steps(lengths, x.shape[1]).unsqueeze(2), self.pad_fill)
        return (x.movedim(self.axis + 1, 1),) + tuple(inputs[1:])

    def after(self, module, inputs, output):
        output = output.movedim(1, self.axis + 1)
        if self.pending is None:
            return output
        lengths, steps = self.pending
        self.pending = None
        new = steps_after(self.rule, lengths, steps, output.shape[1])
        if self.mean_over_real:
            output = output * (steps / lengths.to(output.dtype))[:, None, None]
        self.context.by_steps[int(output.shape[1])] = new
        return output.masked_fill(~_real_steps(new, output.shape[1]).unsqueeze(2), 0.0)

    def attach(self, module):
        module.register_forward_pre_hook(self.before)
        module.register_forward_hook(self.after)
        return module


def _real_steps(lengths, steps: int):
    """[B, steps] True at each sequence's real steps."""
    return torch.arange(steps, device=lengths.device)[None, :] < lengths[:, None]


def steps_after(rule, lengths, steps_in: int, steps_out: int):
    """The real lengths after a layer with this rule (planning/lengths.py), within [1, steps_out]."""
    kind = rule[0]
    if kind == "window":
        kernel, stride, padding, dilation, ceil = rule[1:6]
        reach = lengths + 2 * padding - dilation * (kernel - 1) - 1
        if ceil:  # torch's ceil_mode: one more window, unless it would start past the end and the padding
            new = -((-reach) // stride) + 1
            new = torch.where((new - 1) * stride >= lengths + padding, new - 1, new)
        else:
            new = reach // stride + 1
    elif kind == "adaptive":
        new = -((-lengths * steps_out) // steps_in)
    elif kind == "scale":
        new = torch.ceil(lengths.to(torch.float64) * rule[1]).long()
    else:  # global pooling: one step
        new = torch.ones_like(lengths)
    return new.clamp(1, steps_out)


def first_output(module, inputs, output):
    """Forward hook: a tuple output becomes its first element."""
    return output[0] if isinstance(output, (tuple, list)) else output
