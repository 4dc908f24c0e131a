#!/usr/bin/python3
"""Regenerate everything in mbv2-bench's data/ folder.

Usage (from the repository root, or from anywhere):

    /usr/bin/python3 data/make_data.py [--src DIR]

Needs Debian's python3-torch (1.13, CPU), python3-torchvision (0.14), python3-numpy
and python3-pil. No network access. The source files (the quantized TorchScript model,
the label list and the two photos) are read from --src, by default the first of
<repo>/../shared/data and <repo>/shared/data that exists.

The script is deterministic and idempotent: running it again rewrites byte-identical
files (given the same PyTorch / torchvision / numpy / PIL versions). See data/README.md.
"""

import argparse
import hashlib
import io
import json
import math
import os
import re
import shutil
import struct
import sys

import numpy as np
import torch
import torch.nn as nn
import torchvision
import torchvision.transforms as T
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
TESTDATA = os.path.join(HERE, "testdata")

PT_NAME = "mobilenet_v2_quantized_torchscript.pt"
EXPECTED_FLOATS = 3487816
MEAN = [0.485, 0.456, 0.406]
STD = [0.229, 0.224, 0.225]
PHOTOS = ["coffee", "chelsea"]


# --------------------------------------------------------------------------------------
# small helpers
# --------------------------------------------------------------------------------------

def log(*a):
    print(*a, flush=True)


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def write_bytes(path, data):
    """Write atomically (temp file + rename) so an interrupted run never leaves half files."""
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def save_npy(path, arr, dtype):
    arr = np.array(arr, dtype=np.dtype(dtype), order="C", copy=True)
    buf = io.BytesIO()
    np.lib.format.write_array(buf, arr, version=(1, 0), allow_pickle=False)
    write_bytes(path, buf.getvalue())
    back = np.load(path, allow_pickle=False)
    assert back.dtype == np.dtype(dtype) and back.shape == arr.shape and np.array_equal(back, arr)


def copy_file(src, dst):
    with open(src, "rb") as f:
        data = f.read()
    write_bytes(dst, data)


# --------------------------------------------------------------------------------------
# safetensors writer / reader (format: u64 LE header size, JSON header, raw LE data)
# --------------------------------------------------------------------------------------

_ST_DTYPES = {np.dtype("<f4"): "F32", np.dtype("<f8"): "F64", np.dtype("<i8"): "I64"}
_ST_NP = {v: k for k, v in _ST_DTYPES.items()}


def write_safetensors(path, tensors, metadata):
    """tensors: list of (name, np.ndarray) in the order they are to be stored.

    The header lists __metadata__ first, then the tensors in the given order; the tensors'
    bytes are packed contiguously in that same order, offsets relative to the data section.
    The header is padded with spaces so that the data section starts at a multiple of 8.
    """
    header = {"__metadata__": {str(k): str(v) for k, v in metadata.items()}}
    blobs = []
    offset = 0
    for name, arr in tensors:
        assert name not in header, name
        # np.array keeps 0-d arrays 0-d (np.ascontiguousarray would make them 1-d)
        arr = np.array(arr, order="C", copy=True)
        if arr.dtype not in _ST_DTYPES:
            arr = arr.astype(arr.dtype.newbyteorder("<"))
        dt = _ST_DTYPES[arr.dtype]
        assert offset % arr.dtype.itemsize == 0, (name, "misaligned")
        header[name] = {"dtype": dt, "shape": [int(s) for s in arr.shape],
                        "data_offsets": [offset, offset + arr.nbytes]}
        blobs.append(arr.tobytes(order="C"))
        offset += arr.nbytes
    hb = json.dumps(header, separators=(",", ":"), ensure_ascii=True).encode("ascii")
    hb += b" " * ((-len(hb)) % 8)
    write_bytes(path, struct.pack("<Q", len(hb)) + hb + b"".join(blobs))
    # round trip check with an independent reader
    back, meta = read_safetensors(path)
    assert list(back.keys()) == [n for n, _ in tensors]
    for name, arr in tensors:
        assert back[name].shape == arr.shape and np.array_equal(back[name], arr), name
    return offset


def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n].decode("ascii"))
    base = 8 + n
    meta = header.pop("__metadata__", {})
    out = {}
    end = 0
    for name, info in header.items():
        a, b = info["data_offsets"]
        assert a == end, "not contiguous"
        end = b
        dt = _ST_NP[info["dtype"]]
        out[name] = np.frombuffer(data[base + a:base + b], dtype=dt).reshape(info["shape"])
    assert base + end == len(data), "trailing bytes"
    return out, meta


# --------------------------------------------------------------------------------------
# torchvision model helpers
# --------------------------------------------------------------------------------------

def conv_names(model):
    """Names of all nn.Conv2d modules of a torchvision MobileNetV2, in execution order."""
    return [n for n, m in model.named_modules() if isinstance(m, nn.Conv2d)]


def bn_name_for_conv(conv_name):
    """In torchvision's MobileNetV2 the BatchNorm is always the next sibling of the conv."""
    parent, idx = conv_name.rsplit(".", 1)
    return parent + "." + str(int(idx) + 1)


class BiasAdd(nn.Module):
    """Exact replacement of a folded BatchNorm: y = x + bias[c]."""

    def __init__(self, bias):
        super().__init__()
        self.register_buffer("bias", bias.detach().clone())

    def forward(self, x):
        return x + self.bias.view(1, -1, 1, 1)


def get_module(model, name):
    m = model
    for part in name.split("."):
        m = getattr(m, part)
    return m


def set_module(model, name, new):
    parent, last = name.rsplit(".", 1)
    setattr(get_module(model, parent), last, new)


def folded_model(weights, relu6=True):
    """torchvision MobileNetV2 (width 1.0) with folded weights; BN replaced by BiasAdd."""
    model = torchvision.models.mobilenet_v2()
    for cname in conv_names(model):
        conv = get_module(model, cname)
        w = torch.from_numpy(weights[cname + ".weight"].copy())
        b = torch.from_numpy(weights[cname + ".bias"].copy())
        assert conv.weight.shape == w.shape and conv.bias is None
        with torch.no_grad():
            conv.weight.copy_(w)
        bn_name = bn_name_for_conv(cname)
        assert isinstance(get_module(model, bn_name), nn.BatchNorm2d), bn_name
        set_module(model, bn_name, BiasAdd(b))
    lin = model.classifier[1]
    with torch.no_grad():
        lin.weight.copy_(torch.from_numpy(weights["classifier.1.weight"].copy()))
        lin.bias.copy_(torch.from_numpy(weights["classifier.1.bias"].copy()))
    if not relu6:
        for n, m in list(model.named_modules()):
            if isinstance(m, nn.ReLU6):
                set_module(model, n, nn.ReLU())
    assert not any(isinstance(m, nn.BatchNorm2d) for m in model.modules())
    return model.eval()


# --------------------------------------------------------------------------------------
# 1. weights from the quantized TorchScript model
# --------------------------------------------------------------------------------------

HOIST_RE = re.compile(r"^_jit_pass_hoist_conv_packed_params\.(?P<name>.+)\._packed_params\.\d+$")


def packed_conv_name(module, node):
    """Follow the packed-params input of a quantized conv node back to a module name."""
    chain = []
    v = node.inputsAt(1)
    while v.node().kind() == "prim::GetAttr":
        chain.append(v.node().s("name"))
        v = v.node().inputsAt(0)
    chain.reverse()  # outermost first
    obj = module._c
    for attr in chain:
        obj = obj.getattr(attr)
    if len(chain) == 1 and HOIST_RE.match(chain[0]):
        # optimize_for_mobile / freezing hoisted the packed params to the top level
        return HOIST_RE.match(chain[0]).group("name"), obj
    # plain quantized module layout: <name>._packed_params
    assert chain[-1] == "_packed_params", chain
    return ".".join(chain[:-1]), obj


def extract_weights(pt_path):
    torch.backends.quantized.engine = "qnnpack"
    qm = torch.jit.load(pt_path, map_location="cpu")
    graph = qm.graph

    ref = torchvision.models.mobilenet_v2()
    ref_sd = ref.state_dict()
    ref_convs = conv_names(ref)

    weights = {}
    order = []
    relu_flags = {}
    n_add = 0
    info = {"weight_qschemes": set(), "weight_zero_points": set()}
    for node in graph.nodes():
        kind = node.kind()
        if kind == "quantized::add":
            n_add += 1
        if kind not in ("quantized::conv2d", "quantized::conv2d_relu"):
            continue
        name, packed = packed_conv_name(qm, node)
        qw, bias = packed.unpack()
        assert bias is not None, name
        info["weight_qschemes"].add(str(qw.qscheme()))
        if qw.qscheme() == torch.per_tensor_affine:
            info["weight_zero_points"].add(int(qw.q_zero_point()))
        w = qw.dequantize().to(torch.float32).contiguous()
        b = bias.detach().to(torch.float32).contiguous()
        conv = get_module(ref, name)
        assert isinstance(conv, nn.Conv2d), name
        assert tuple(w.shape) == tuple(ref_sd[name + ".weight"].shape), (name, w.shape)
        assert tuple(b.shape) == (conv.out_channels,), (name, b.shape)
        assert list(packed.stride()) == list(conv.stride), name
        assert list(packed.padding()) == list(conv.padding), name
        assert list(packed.dilation()) == list(conv.dilation), name
        assert int(packed.groups()) == conv.groups, name
        assert not packed.transpose(), name
        assert name not in weights
        weights[name + ".weight"] = w.numpy()
        weights[name + ".bias"] = b.numpy()
        order.append(name)
        relu_flags[name] = kind == "quantized::conv2d_relu"
    assert order == ref_convs, "conv execution order differs from torchvision"
    assert len(order) == 52

    # activation structure: every conv except the 17 project convs is followed by ReLU
    for name in order:
        has_act = isinstance(get_module(ref, name.rsplit(".", 1)[0]),
                             torchvision.ops.misc.Conv2dNormActivation)
        assert relu_flags[name] == has_act, name
    n_res = sum(1 for m in ref.modules()
                if isinstance(m, torchvision.models.mobilenetv2.InvertedResidual) and m.use_res_connect)
    assert n_add == n_res == 10, (n_add, n_res)

    # classifier
    lin_nodes = [n for n in graph.nodes() if n.kind() == "quantized::linear"]
    assert len(lin_nodes) == 1
    packed_lin = qm.classifier._modules["1"]._packed_params._packed_params
    qw, bias = torch.ops.quantized.linear_unpack(packed_lin)
    info["weight_qschemes"].add(str(qw.qscheme()))
    if qw.qscheme() == torch.per_tensor_affine:
        info["weight_zero_points"].add(int(qw.q_zero_point()))
    w = qw.dequantize().to(torch.float32).contiguous()
    b = bias.detach().to(torch.float32).contiguous()
    assert tuple(w.shape) == tuple(ref_sd["classifier.1.weight"].shape) == (1000, 1280)
    assert tuple(b.shape) == tuple(ref_sd["classifier.1.bias"].shape) == (1000,)
    weights["classifier.1.weight"] = w.numpy()
    weights["classifier.1.bias"] = b.numpy()

    names = []
    for n in order:
        names += [n + ".weight", n + ".bias"]
    names += ["classifier.1.weight", "classifier.1.bias"]
    total = sum(weights[n].size for n in names)
    assert total == EXPECTED_FLOATS, total
    for n in names:
        assert weights[n].dtype == np.float32 and np.all(np.isfinite(weights[n])), n
    return qm, weights, names, info


# --------------------------------------------------------------------------------------
# 3. preprocessing
# --------------------------------------------------------------------------------------

def preprocess(png_path):
    img = Image.open(png_path).convert("RGB")
    tf = T.Compose([
        T.Resize(256, interpolation=T.InterpolationMode.BILINEAR),
        T.CenterCrop(224),
        T.ToTensor(),
        T.Normalize(mean=MEAN, std=STD),
    ])
    x = tf(img).unsqueeze(0).contiguous()
    assert tuple(x.shape) == (1, 3, 224, 224) and x.dtype == torch.float32
    return img.size, x


def resized_size(w, h, short=256):
    """torchvision 0.14 Resize(int) rule: shorter side -> 256, longer side truncated."""
    if w <= h:
        return short, int(short * h / w)
    return int(short * w / h), short


def topk(logits, k=5):
    p = torch.softmax(logits.double(), dim=1)[0]
    v, i = torch.topk(p, k)
    return [(int(a), float(b)) for a, b in zip(i, v)]


# --------------------------------------------------------------------------------------
# 5. small test fixture with unfolded BatchNorm
# --------------------------------------------------------------------------------------

def make_fixture(out_dir):
    torch.manual_seed(0)
    model = torchvision.models.mobilenet_v2(width_mult=0.25, num_classes=10)
    CNA = torchvision.ops.misc.Conv2dNormActivation
    with torch.no_grad():
        # torchvision's default init (kaiming fan_out, Linear std 0.01) run in eval mode with
        # fixed BN statistics lets the input-dependent signal die out (both batch rows give the
        # same logits to 5 digits, |logits| ~ 0.1 = the classifier bias). Re-initialise with a
        # fan-in scaled normal instead: variance 3/fan_in for convs followed by ReLU6 (so a
        # few percent of ReLU6 outputs clip at 6), 1/fan_in for the linear project convs and
        # the classifier.
        for name, m in model.named_modules():
            if isinstance(m, nn.Conv2d):
                act = isinstance(get_module(model, name.rsplit(".", 1)[0]), CNA)
                m.weight.normal_(0.0, math.sqrt((3.0 if act else 1.0) / m.weight[0].numel()))
            elif isinstance(m, nn.Linear):
                m.weight.normal_(0.0, math.sqrt(1.0 / m.in_features))
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 2.0)
        # non-zero classifier bias so that the bias path is exercised too
        model.classifier[1].bias.uniform_(-0.1, 0.1)
        x = torch.randn(2, 3, 64, 64, dtype=torch.float32)
    model.eval()
    sd = model.state_dict()
    tensors = []
    for k, v in sd.items():
        if k.endswith("num_batches_tracked"):
            assert v.dtype == torch.int64 and v.dim() == 0
            tensors.append((k, v.numpy().astype("<i8")))
        else:
            assert v.dtype == torch.float32
            tensors.append((k, v.numpy().astype("<f4")))
    meta = {
        "format": "pt",
        "description": "torchvision mobilenet_v2(width_mult=0.25, num_classes=10), seeded random "
                       "weights (torch.manual_seed(0)), random BatchNorm affine params and running "
                       "stats, NOT folded; full state_dict. BatchNorm eps=1e-05. Test fixture only.",
        "generator": "data/make_data.py",
        "torch_version": torch.__version__,
        "torchvision_version": torchvision.__version__,
    }
    st_path = os.path.join(out_dir, "mbv2_w025_c10_bn.safetensors")
    write_safetensors(st_path, tensors, meta)

    clip = [0, 0, 0]  # ReLU6 outputs: total, == 0, == 6

    def relu6_hook(mod, inp, out):
        clip[0] += out.numel()
        clip[1] += int((out == 0).sum())
        clip[2] += int((out == 6).sum())

    hooks = [m.register_forward_hook(relu6_hook) for m in model.modules() if isinstance(m, nn.ReLU6)]
    with torch.no_grad():
        m64 = model.double()
        y = m64(x.double())
    for h in hooks:
        h.remove()
    log("fixture: ReLU6 outputs clipped at 0: %.1f%%, at 6: %.2f%%" %
        (100.0 * clip[1] / clip[0], 100.0 * clip[2] / clip[0]))
    assert clip[2] > 0
    assert tuple(y.shape) == (2, 10)
    save_npy(os.path.join(out_dir, "mbv2_w025_c10_input.npy"), x.numpy(), "<f4")
    save_npy(os.path.join(out_dir, "mbv2_w025_c10_logits.npy"), y.numpy(), "<f8")
    save_npy(os.path.join(out_dir, "mbv2_w025_c10_logits_f32.npy"), y.numpy().astype(np.float32), "<f4")
    absmax = float(y.abs().max())
    assert 0.1 < absmax < 100.0, absmax
    assert float((y[0] - y[1]).abs().max()) > 0.1  # the two inputs give clearly different logits
    return y.numpy(), os.path.getsize(st_path), sum(p.numel() for p in model.parameters())


# --------------------------------------------------------------------------------------
# 6. layer shapes as torchvision computes them
# --------------------------------------------------------------------------------------

SHAPE_CONFIGS = [(1.0, 224, 1000), (0.75, 224, 1000), (1.4, 224, 1000), (0.5, 160, 1000),
                 (0.35, 96, 1000), (1.0, 244, 1000), (0.25, 64, 10)]


def layer_table(width_mult, res, num_classes):
    torch.manual_seed(0)
    model = torchvision.models.mobilenet_v2(width_mult=width_mult, num_classes=num_classes).eval()
    IR = torchvision.models.mobilenetv2.InvertedResidual
    CNA = torchvision.ops.misc.Conv2dNormActivation

    # roles and residual flags from the module structure
    role, residual = {}, {}
    for bname, blk in model.named_modules():
        if isinstance(blk, IR):
            cs = [n for n, m in blk.conv.named_modules() if isinstance(m, nn.Conv2d)]
            names = [bname + ".conv." + n for n in cs]
            if len(names) == 2:
                role[names[0]] = "depthwise"
            else:
                role[names[0]], role[names[1]] = "expand", "depthwise"
            role[names[-1]] = "project"
            residual[names[-1]] = bool(blk.use_res_connect)
    cnames = conv_names(model)
    role[cnames[0]] = "stem"
    role[cnames[-1]] = "head"
    assert len(role) == len(cnames)

    entries = []
    hooks = []

    def conv_hook(name):
        def fn(mod, inp, out):
            x = inp[0]
            e = {"op": "conv", "name": name, "role": role[name],
                 "in_channels": mod.in_channels, "out_channels": mod.out_channels,
                 "kernel": list(mod.kernel_size), "stride": list(mod.stride),
                 "padding": list(mod.padding), "groups": mod.groups,
                 "in_hw": [int(x.shape[2]), int(x.shape[3])],
                 "out_hw": [int(out.shape[2]), int(out.shape[3])],
                 "act": "relu6" if isinstance(get_module(model, name.rsplit(".", 1)[0]), CNA) else "none"}
            assert list(mod.dilation) == [1, 1] and mod.bias is None
            assert int(x.shape[1]) == mod.in_channels and int(out.shape[1]) == mod.out_channels
            if name in residual:
                e["residual"] = residual[name]
            entries.append(e)
        return fn

    def features_hook(mod, inp, out):
        # MobileNetV2._forward_impl: adaptive_avg_pool2d(features(x), (1, 1)); flatten
        entries.append({"op": "pool", "name": "adaptive_avg_pool2d", "channels": int(out.shape[1]),
                        "in_hw": [int(out.shape[2]), int(out.shape[3])], "out_hw": [1, 1]})

    def linear_hook(mod, inp, out):
        assert int(inp[0].shape[1]) == mod.in_features
        entries.append({"op": "linear", "name": "classifier.1", "in_features": mod.in_features,
                        "out_features": mod.out_features})

    for n, m in model.named_modules():
        if isinstance(m, nn.Conv2d):
            hooks.append(m.register_forward_hook(conv_hook(n)))
        elif isinstance(m, nn.Linear):
            hooks.append(m.register_forward_hook(linear_hook))
    hooks.append(model.features.register_forward_hook(features_hook))
    with torch.no_grad():
        out = model(torch.zeros(1, 3, res, res))
    for h in hooks:
        h.remove()
    assert tuple(out.shape) == (1, num_classes)
    assert [e["op"] for e in entries] == ["conv"] * 52 + ["pool", "linear"]

    n_params = sum(p.numel() for p in model.parameters())
    n_folded = 0
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            n_folded += m.weight.numel() + m.out_channels   # weight + folded BN bias
        elif isinstance(m, nn.Linear):
            n_folded += m.weight.numel() + m.bias.numel()
    bn_channels = sum(m.num_features for m in model.modules() if isinstance(m, nn.BatchNorm2d))
    assert n_folded == n_params - bn_channels
    return {"width_mult": width_mult, "resolution": res, "num_classes": num_classes,
            "num_params": n_params, "num_params_folded": n_folded,
            "num_residual_blocks": sum(1 for v in residual.values() if v),
            "layers": entries}


def dump_shapes_json(path, configs):
    # one layer per line: readable, diffable, and still plain JSON
    def j(o):
        return json.dumps(o, separators=(", ", ": "))
    lines = ["{",
             '  "description": "MobileNetV2 layer shapes in execution order, recorded with forward '
             'hooks on torchvision.models.mobilenet_v2 (batch 1, eval mode)",',
             '  "generator": "data/make_data.py",',
             '  "torchvision_version": %s,' % j(torchvision.__version__),
             '  "configs": [']
    for ci, c in enumerate(configs):
        lines.append("    {")
        for k in ["width_mult", "resolution", "num_classes", "num_params", "num_params_folded",
                  "num_residual_blocks"]:
            lines.append("      %s: %s," % (j(k), j(c[k])))
        lines.append('      "layers": [')
        for li, e in enumerate(c["layers"]):
            lines.append("        " + j(e) + ("," if li + 1 < len(c["layers"]) else ""))
        lines.append("      ]")
        lines.append("    }" + ("," if ci + 1 < len(configs) else ""))
    lines += ["  ]", "}", ""]
    text = "\n".join(lines)
    assert json.loads(text)["configs"][0]["layers"][0]["name"] == "features.0.0"
    write_bytes(path, text.encode("ascii"))


# --------------------------------------------------------------------------------------
# main
# --------------------------------------------------------------------------------------

def find_src(arg):
    cands = [arg] if arg else [os.path.join(REPO, "..", "shared", "data"),
                               os.path.join(REPO, "shared", "data")]
    for c in cands:
        if c and os.path.isfile(os.path.join(c, PT_NAME)):
            return os.path.abspath(c)
    sys.exit("source data folder with %s not found (tried %s); pass --src DIR" % (PT_NAME, cands))


def make_image_fixtures(src, out_dir):
    """A small JPEG and a greyscale PNG, with the tensors PIL + torchvision make of them,
    so the C++ loaders are checked against the same preprocessing on both decoders."""
    img = Image.open(os.path.join(src, "coffee.png")).convert("RGB").resize((300, 200), Image.BILINEAR)
    jpg = os.path.join(out_dir, "coffee_small.jpg")
    img.save(jpg, format="JPEG", quality=90, subsampling=0, optimize=False)
    gray = os.path.join(out_dir, "chelsea_gray_small.png")
    Image.open(os.path.join(src, "chelsea.png")).convert("L").resize((150, 100), Image.BILINEAR).save(gray)
    for path, stem in [(jpg, "coffee_small_jpg"), (gray, "chelsea_gray_small_png")]:
        decoded = np.asarray(Image.open(path).convert("RGB"), dtype=np.float32)[None]  # [1,h,w,3]
        save_npy(os.path.join(out_dir, stem + "_rgb.npy"), decoded, "<f4")
        _, x = preprocess(path)
        save_npy(os.path.join(out_dir, stem + "_input.npy"), x.numpy(), "<f4")
        log("image fixture %s: %dx%d" % (path, decoded.shape[2], decoded.shape[1]))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--src", help="folder with the source files (default: ../shared/data)")
    args = ap.parse_args()
    src = find_src(args.src)

    torch.set_num_threads(1)  # bit-reproducible CPU reductions
    torch.use_deterministic_algorithms(True)
    os.makedirs(TESTDATA, exist_ok=True)
    log("source:", src)
    log("torch", torch.__version__, "torchvision", torchvision.__version__, "numpy", np.__version__)

    # 2. copies
    for f in ["imagenet_labels.txt", "coffee.png", "chelsea.png",
              "mobilenet_v2_quantized_torchscript.LICENSE"]:
        copy_file(os.path.join(src, f), os.path.join(HERE, f))
    with open(os.path.join(HERE, "imagenet_labels.txt")) as f:
        labels = [l.rstrip("\n") for l in f]
    assert len(labels) == 1000 and labels[967] == "espresso"

    # 1. weights
    pt_path = os.path.join(src, PT_NAME)
    pt_sha = sha256_file(pt_path)
    qm, weights, names, qinfo = extract_weights(pt_path)
    log("quantized weights: qschemes %s, zero points %s" %
        (sorted(qinfo["weight_qschemes"]), sorted(qinfo["weight_zero_points"])))
    meta = {
        "format": "pt",
        "model": "MobileNetV2 (torchvision architecture, width_mult 1.0, 1000 ImageNet classes, 224x224)",
        "source": "pytorch/ios-demo-app PyTorchDemo/PyTorchDemo/ImageClassification/model/mobilenet_quantized.pt "
                  "(torchvision.models.quantization.mobilenet_v2(pretrained=True, quantize=True), traced)",
        "source_sha256": pt_sha,
        "conversion": "int8 per-tensor weights dequantized to FP32 (qweight.dequantize()); float biases "
                      "unchanged; BatchNorm already folded into conv weight+bias; no further changes",
        "activation_note": "the quantized model uses ReLU; MobileNetV2 (and the golden logits) use ReLU6",
        "layout": "conv weights OIHW, classifier weight [out,in]; names = torchvision mobilenet_v2 "
                  "state_dict conv module names + .weight/.bias",
        "num_floats": str(EXPECTED_FLOATS),
        "license": "BSD-3-Clause (torchvision / pytorch ios-demo-app), see data/LICENSES.md",
        "generator": "data/make_data.py",
    }
    st_path = os.path.join(HERE, "mobilenet_v2.safetensors")
    write_safetensors(st_path, [(n, weights[n]) for n in names], meta)
    log("wrote %s: %d tensors, %d floats, %d bytes" %
        (st_path, len(names), EXPECTED_FLOATS, os.path.getsize(st_path)))

    # 3 + 4. inputs and golden logits
    model64 = folded_model(weights, relu6=True).double()
    model64_relu = folded_model(weights, relu6=False).double()
    results = {}
    for photo in PHOTOS:
        (w, h), x = preprocess(os.path.join(src, photo + ".png"))
        rw, rh = resized_size(w, h)
        top, left = int(round((rh - 224) / 2.0)), int(round((rw - 224) / 2.0))
        save_npy(os.path.join(HERE, photo + "_input.npy"), x.numpy(), "<f4")
        with torch.no_grad():
            y = model64(x.double())
            y_relu = model64_relu(x.double())
            y_q = qm(x)
        assert tuple(y.shape) == (1, 1000)
        save_npy(os.path.join(HERE, photo + "_logits.npy"), y.numpy().astype(np.float32), "<f4")
        save_npy(os.path.join(HERE, photo + "_logits_f64.npy"), y.numpy(), "<f8")
        results[photo] = {"size": (w, h), "resized": (rw, rh), "crop_top_left": (top, left),
                          "relu6": topk(y), "relu": topk(y_relu), "quantized": topk(y_q)}
        log("%s.png %dx%d -> resize %dx%d -> crop at (top=%d, left=%d)" % (photo, w, h, rw, rh, top, left))
        for k in ["relu6", "relu", "quantized"]:
            log("  top-5 %-9s " % k + "  ".join("%d %.4f" % t for t in results[photo][k]))
        log("  top-5 labels (relu6): " + "; ".join(labels[c].split(",")[0] for c, _ in results[photo]["relu6"]))
    assert results["coffee"]["relu6"][0][0] == 967, results["coffee"]
    assert 281 <= results["chelsea"]["relu6"][0][0] <= 285, results["chelsea"]
    for photo in PHOTOS:
        assert results[photo]["relu6"][0][0] == results[photo]["relu"][0][0] == results[photo]["quantized"][0][0]

    # 5. fixture
    y, st_size, n_params = make_fixture(TESTDATA)
    np.set_printoptions(precision=5, suppress=True, linewidth=150)
    log("fixture: %d parameters, safetensors %d bytes; logits (float64):\n%s" % (n_params, st_size, y))

    # 5b. image-decoder fixtures (JPEG, greyscale PNG)
    make_image_fixtures(src, TESTDATA)

    # 6. shapes
    configs = [layer_table(wm, r, nc) for wm, r, nc in SHAPE_CONFIGS]
    dump_shapes_json(os.path.join(TESTDATA, "torchvision_shapes.json"), configs)
    for c in configs:
        log("shapes: width %.2f res %d: %d params (%d folded), final feature map %s" %
            (c["width_mult"], c["resolution"], c["num_params"], c["num_params_folded"],
             c["layers"][-2]["in_hw"]))
    assert configs[0]["num_params_folded"] == EXPECTED_FLOATS

    total = 0
    for root, _, files in os.walk(HERE):
        for f in files:
            total += os.path.getsize(os.path.join(root, f))
    log("data/ total size: %.2f MB" % (total / 1e6))
    assert total < 20e6


if __name__ == "__main__":
    main()
