#!/usr/bin/env python3
"""PyTorch's own MobileNetV2 on this GPU: the outside bar the cuDNN backend must meet.

Runs torchvision's MobileNetV2 with our folded weights (data/mobilenet_v2.safetensors;
BatchNorm replaced by the folded bias, ReLU6), strict FP32 (TF32 off), in NCHW and
channels_last, end to end with a CUDA graph at batch 1 and batch 256, and every conv
layer alone (warm, CUDA events). Prints a markdown table; --json writes the numbers.

Needs a GPU and python3 with torch, torchvision and safetensors (the GPU machine's image).
"""
import argparse
import json
import os
import statistics

import torch
import torchvision
from safetensors.torch import load_file

HERE = os.path.dirname(os.path.abspath(__file__))


class Bias(torch.nn.Module):
    def __init__(self, bias):
        super().__init__()
        self.register_buffer("bias", bias.view(1, -1, 1, 1))

    def forward(self, x):
        return x + self.bias


def build_model(weights_path):
    sd = load_file(weights_path)
    model = torchvision.models.mobilenet_v2()
    for name, mod in list(model.named_modules()):
        if isinstance(mod, torch.nn.Conv2d):
            mod.weight.data.copy_(sd[name + ".weight"])
    # Each BatchNorm follows its conv in the same Sequential: replace it by the folded bias.
    for name, mod in list(model.named_modules()):
        for child_name, child in list(mod.named_children()):
            if isinstance(child, torch.nn.BatchNorm2d):
                idx = int(child_name)
                conv_name = (name + "." if name else "") + str(idx - 1)
                setattr(mod, child_name, Bias(sd[conv_name + ".bias"]))
    model.classifier[1].weight.data.copy_(sd["classifier.1.weight"])
    model.classifier[1].bias.data.copy_(sd["classifier.1.bias"])
    return model.eval()


def time_ms(fn, warmup=20, reps=11, inner=20):
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    samples = []
    for _ in range(reps):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        for _ in range(inner):
            fn()
        b.record()
        b.synchronize()
        samples.append(a.elapsed_time(b) / inner)
    return statistics.median(samples)


def graphed(model, x):
    s = torch.cuda.Stream()
    s.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(s):
        for _ in range(3):
            model(x)
    torch.cuda.current_stream().wait_stream(s)
    g = torch.cuda.CUDAGraph()
    with torch.cuda.graph(g):
        y = model(x)
    return g, y


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--weights", default=os.path.join(HERE, "..", "data", "mobilenet_v2.safetensors"))
    ap.add_argument("--json", help="write the numbers here")
    args = ap.parse_args()
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cudnn.benchmark = True
    dev = torch.device("cuda")
    out = {"torch": torch.__version__, "cudnn": torch.backends.cudnn.version(),
           "device": torch.cuda.get_device_name(), "e2e": [], "layers": []}
    with torch.no_grad():
        for fmt in ["channels_last", "nchw"]:
            mf = torch.channels_last if fmt == "channels_last" else torch.contiguous_format
            model = build_model(args.weights).to(dev).to(memory_format=mf)
            for batch in [1, 256]:
                x = torch.randn(batch, 3, 224, 224, device=dev).to(memory_format=mf)
                g, _ = graphed(model, x)
                ms = time_ms(g.replay, inner=20 if batch == 1 else 3)
                out["e2e"].append({"format": fmt, "batch": batch, "graph_us": ms * 1e3,
                                   "images_per_s": batch / (ms * 1e-3)})
                print(f"| e2e | {fmt} | b{batch} | {ms*1e3:9.1f} µs | {batch/(ms*1e-3):9.0f} img/s |", flush=True)
            # Every conv alone: its input captured by a forward hook.
            inputs = {}
            hooks = [m.register_forward_hook(lambda m, i, o, n=n: inputs.__setitem__(n, i[0]))
                     for n, m in model.named_modules() if isinstance(m, torch.nn.Conv2d)]
            for batch in [1, 256]:
                inputs.clear()
                model(torch.randn(batch, 3, 224, 224, device=dev).to(memory_format=mf))
                for idx, (name, mod) in enumerate((n, m) for n, m in model.named_modules()
                                                  if isinstance(m, torch.nn.Conv2d)):
                    xi = inputs[name]
                    ms = time_ms(lambda: mod(xi), inner=50 if batch == 1 else 5)
                    out["layers"].append({"format": fmt, "batch": batch, "index": idx, "name": name,
                                          "conv_only_us": ms * 1e3})
            for h in hooks:
                h.remove()
    for batch in [1, 256]:
        print(f"\n| # | layer | b{batch} channels_last µs | b{batch} nchw µs |\n|--:|---|--:|--:|")
        rows = {}
        for r in out["layers"]:
            if r["batch"] == batch:
                rows.setdefault((r["index"], r["name"]), {})[r["format"]] = r["conv_only_us"]
        for (i, n), v in sorted(rows.items()):
            print(f"| {i} | {n} | {v.get('channels_last', 0):.2f} | {v.get('nchw', 0):.2f} |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=2)


if __name__ == "__main__":
    main()
