"""Recurrent layers and time selectors: shape rules in pure Python, modules built lazily.

rnn/lstm/gru take [T, F] sequences batch-first and return every step
[T, hidden * directions]; `last`, `hidden`, `mean_time` and `max_time` reduce
the time axis. `lstm_cell`/`gru_cell` unroll a cell explicitly over time.
"""
from __future__ import annotations

from ..shapes import Shape
from ..shapes import ShapeProblem
from ._base import need_features, layer
from ..schema.args import Arg, positive, probability


def _sequence(shape: Shape, what: str) -> None:
    need_features(shape, what)
    if shape.rank != 2:
        raise ShapeProblem(f"{what} needs a sequence [T, F] (declare input sequence(T, F), or put an "
                           f"embedding after input tokens(T))")
    if shape.roles is not None and shape.layout != "TF":
        raise ShapeProblem(f"{what} needs a sequence [T, F] (time first, features last): declare input "
                           f"sequence(T, F) or tensor(..., layout=\"TF\"), or put permute(2, 1) before it")


def _rnn_infer(what):
    def infer(shape: Shape, a: dict) -> Shape:
        _sequence(shape, what)
        size = a["hidden"] * (2 if a.get("bidirectional") else 1)
        return Shape((shape.dims[0], size), roles=("T", "F"), hidden=size)
    return infer


def _rnn_build(kind):
    def build(shape: Shape, a: dict):
        from ..runtime.recurrent import Recurrent
        return Recurrent(kind, shape.dims[-1], a["hidden"], a["layers"], a["bidirectional"], a["dropout"])
    return build


def _rnn_macs(kind):
    gates = {"rnn": 1, "gru": 3, "lstm": 4}[kind]
    return lambda i, o, a: i.dims[0] * gates * a["hidden"] * (i.dims[1] + a["hidden"]) * a["layers"] * (
        2 if a["bidirectional"] else 1)


_RNN_ARGS = (Arg("hidden", "int", check=positive, doc="hidden size"), Arg("layers", "int", 1, positive),
             Arg("bidirectional", "bool", False), Arg("dropout", "float", 0.0, probability))

for _kind, _cls in (("rnn", "RNN"), ("lstm", "LSTM"), ("gru", "GRU")):
    layer(_kind, _RNN_ARGS, infer=_rnn_infer(_kind), build=_rnn_build(_kind), macs=_rnn_macs(_kind), aliases=(_cls,),
          weights="matrix",
          doc=f"{_cls} over a [T, F] sequence (batch first): {_kind}(hidden, layers=1, bidirectional=false, "
              f"dropout=0).\n\nReturns every step [T, hidden * directions]; follow with last, hidden, mean_time "
              f"or max_time. Padded token batches are packed, so padding never changes the result.",
          examples=[((7, 5), {"hidden": 6}), ((4, 3), {"hidden": 5, "layers": 2, "bidirectional": True})])


def _cell_build(kind):
    def build(shape: Shape, a: dict):
        from ..runtime.recurrent import UnrolledCell
        return UnrolledCell(kind, shape.dims[-1], a["hidden"])
    return build


for _kind, _cls in (("lstm", "LSTMCell"), ("gru", "GRUCell")):
    layer(f"{_kind}_cell", (Arg("hidden", "int", check=positive),),
          infer=_rnn_infer(f"{_kind}_cell"), build=_cell_build(_kind), aliases=(_cls,), weights="matrix",
          macs=lambda i, o, a, rnn=_rnn_macs(_kind): rnn(i, o, dict(a, layers=1, bidirectional=False)),
          doc=f"An nn.{_cls} unrolled explicitly over time: {_kind}_cell(hidden). Same outputs as a one-layer "
              f"{_kind} with the same weights; returns every step [T, hidden].",
          examples=[((6, 4), {"hidden": 5})])


def _select_infer(how):
    def infer(shape: Shape, a: dict) -> Shape:
        _sequence(shape, how if how != "mean" else "mean_time")
        if how == "hidden":
            if shape.hidden is None:
                raise ShapeProblem("hidden takes the final hidden state, so it must come right after rnn, lstm, "
                                   "gru, lstm_cell or gru_cell")
            return Shape((shape.hidden,), roles=("F",))
        return Shape((shape.dims[1],), roles=("F",))
    return infer


def _select_build(how):
    def build(shape: Shape, a: dict):
        from ..runtime.recurrent import TimeSelect
        return TimeSelect(how)
    return build


for _name, _how, _doc in (("last", "last", "Each sequence's last real (unpadded) step: [T, F] -> [F]."),
                          ("hidden", "hidden", "The final hidden state of the recurrent layer just before "
                                               "(both directions concatenated): [T, F] -> [hidden * directions]."),
                          ("mean_time", "mean", "Mean over the real steps of each sequence: [T, F] -> [F]."),
                          ("max_time", "max", "Maximum over the real steps of each sequence: [T, F] -> [F].")):
    layer(_name, (), infer=_select_infer(_how), build=_select_build(_how), doc=_doc,
          examples=[((5, 3), {})] if _how != "hidden" else (),
          follows="a recurrent layer" if _how == "hidden" else None)
