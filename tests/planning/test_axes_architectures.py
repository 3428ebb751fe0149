"""The architectures issue 22 was tried with (U-Net, DenseNet, squeeze-and-excitation, Inception, MobileNetV2,
GRU, stacked BiLSTM, text CNN, a small transformer, autoencoder, grouped/dilated/3-d convs, a ResNet block),
written as specs: each plans, runs with the planned shape at batch sizes 1, 2, 3 (and T for sequences),
and has the parameter count it had before shapes carried axis roles (recorded on the tree before the
change). One count changed on purpose: `textcnn_pool` (`global_maxpool` on a sequence pools over time now,
[T, F] -> [1, F], where it took the time steps as channels; its linear layer reads 8 features, not 18)."""
import pytest
import torch

import dlspec

# name -> (spec, parameters before axis roles, parameters now)
ARCHITECTURES = {
    "autoenc": ("""
model AE {
    input image(1, 16, 16)
    conv(8, 3, stride=2, padding=1) -> relu -> conv(16, 3, stride=2, padding=1) -> relu -> flatten -> linear(32)
    linear(16 * 4 * 4) -> reshape(16, 4, 4) -> conv_transpose(8, 2, stride=2) -> relu -> conv_transpose(1, 2, stride=2) -> sigmoid
}
""", 18473, 18473),
    "bilstm": ("""
model BiLSTM {
    input sequence(12, 5)
    lstm(16, layers=2, bidirectional=true) -> mean_time -> linear(3)
}
""", 9443, 9443),
    "convs": ("""
model Convs {
    input tensor(2, 8, 10, 10)
    conv(4, 3, padding=1) -> conv(8, 3, dilation=2, padding=2, groups=4) -> batchnorm -> global_avgpool -> flatten -> linear(3)
}
""", 487, 487),
    "dense": ("""
block Dense(g) {
    y = input -> batchnorm -> relu -> conv(g, 3, padding=1)
    concat(input, y)
}
model DenseNet {
    input image(3, 16, 16)
    conv(16, 3, padding=1) -> Dense(8) -> Dense(8) -> Dense(8)
    batchnorm -> relu -> conv(20, 1) -> avgpool(2) -> Dense(8) -> global_avgpool -> flatten -> linear(10)
}
""", 8478, 8478),
    "grouped": ("""
model Grouped {
    input image(8, 12, 12)
    conv(16, 3, groups=4, padding=1) -> conv(16, 3, dilation=2, padding=2) -> groupnorm(4) -> upsample(2) -> adaptive_avgpool(3) -> flatten -> linear(4)
}
""", 3236, 3236),
    "gru": ("""
model GRUNet {
    input sequence(12, 5)
    gru(16, layers=2) -> last -> linear(3)
}
""", 2787, 2787),
    "inception": ("""
block Inception(a, b, c, d) {
    p1 = input -> conv(a, 1) -> relu
    p2 = input -> conv(b, 1) -> relu -> conv(b, 3, padding=1) -> relu
    p3 = input -> conv(c, 1) -> relu -> conv(c, 5, padding=2) -> relu
    p4 = input -> maxpool(3, stride=1, padding=1) -> conv(d, 1) -> relu
    concat(p1, p2, p3, p4)
}
model Inc {
    input image(3, 16, 16)
    conv(16, 3, padding=1) -> Inception(8, 8, 4, 4) -> Inception(8, 16, 4, 4) -> global_avgpool -> flatten -> linear(10)
}
""", 5698, 5698),
    "mobilenet": ("""
block InvRes(ch, t) {
    y = input -> conv(ch * t, 1, bias=false) -> batchnorm -> torch.nn.ReLU6()
              -> conv(ch * t, 3, padding=1, groups=ch * t, bias=false) -> batchnorm -> torch.nn.ReLU6()
              -> conv(ch, 1, bias=false) -> batchnorm
    add(y, input)
}
model MobileNet {
    input image(3, 16, 16)
    conv(16, 3, stride=2, padding=1) -> InvRes(16, 6) -> InvRes(16, 6) -> global_avgpool -> flatten -> linear(10)
}
""", 9322, 9322),
    "resnet_block": ("""
block Basic(ch, stride) {
    y = input -> conv(ch, 3, stride=stride, padding=1, bias=false) -> batchnorm -> relu -> conv(ch, 3, padding=1, bias=false) -> batchnorm
    s = input -> conv(ch, 1, stride=stride, bias=false) -> batchnorm
    add(y, s) -> relu
}
model Res {
    input image(3, 16, 16)
    conv(16, 3, padding=1) -> Basic(32, 2) -> Basic(32, 1) -> global_avgpool -> flatten -> linear(10)
}
""", 34954, 34954),
    "se": ("""
block SE(ch, r) {
    g = input -> global_avgpool -> conv(ch // r, 1) -> relu -> conv(ch, 1) -> sigmoid
    mul(input, g)
}
model SENet {
    input image(3, 16, 16)
    conv(32, 3, padding=1) -> relu -> SE(32, 4) -> global_avgpool -> flatten -> linear(10)
}
""", 1778, 1778),
    "seqconv": ("""
model SeqConv {
    input sequence(16, 4)
    conv(8, 3, padding=1) -> batchnorm -> relu -> maxpool(2) -> avgpool(2) -> lstm(6) -> last
}
""", 504, 504),
    "textcnn": ("""
model TextCNN {
    input tokens(20, vocab=50)
    e = input -> embedding(16)
    a = e -> conv(8, 3) -> relu -> max_time
    b = e -> conv(8, 5) -> relu -> max_time
    concat(a, b) -> linear(2)
}
""", 1874, 1874),
    "textcnn_pool": ("""
model TextCNNPool {
    input tokens(20, vocab=50)
    embedding(16) -> conv(8, 3) -> relu -> global_maxpool -> flatten -> linear(2)
}
""", 1230, 1210),
    "transformer": ("""
model Tiny {
    input tokens(20, vocab=50)
    embedding(32) -> torch.nn.TransformerEncoderLayer(32, 4, 64, 0.0, batch_first=true) -> mean_time -> linear(2)
}
""", 10210, 10210),
    "unet": ("""
block DoubleConv(ch) {
    conv(ch, 3, padding=1) -> batchnorm -> relu -> conv(ch, 3, padding=1) -> batchnorm -> relu
}
model UNet {
    input image(1, 16, 16)
    e1 = input -> DoubleConv(8)
    e2 = e1 -> maxpool(2) -> DoubleConv(16)
    b = e2 -> maxpool(2) -> DoubleConv(32)
    u2 = b -> conv_transpose(16, 2, stride=2)
    d2 = concat(u2, e2) -> DoubleConv(16)
    u1 = d2 -> conv_transpose(8, 2, stride=2)
    concat(u1, e1) -> DoubleConv(8) -> conv(2, 1)
}
""", 29650, 29650),
}


@pytest.mark.parametrize("name", sorted(ARCHITECTURES))
def test_architecture_plans_runs_and_keeps_its_parameters(name):
    text, before, now = ARCHITECTURES[name]
    spec = dlspec.loads(text)
    model_name = spec.model_names[0]
    plan = spec.plan(model_name)
    model = spec.build(model_name).eval()
    assert sum(p.numel() for p in model.parameters()) == now
    shape = plan.in_shape
    for batch in (1, 2, 3) + ((shape.dims[0],) if shape.sequence or shape.integer else ()):
        x = torch.randint(1, shape.vocab, (batch,) + shape.dims) if shape.integer else torch.randn((batch,) + shape.dims)
        with torch.no_grad():
            assert tuple(model(x).shape) == (batch,) + plan.out_shape.dims

