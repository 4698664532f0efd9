#!/usr/bin/env python3
"""The PyTorch half of the GPU proof (bench/gpu/run runs it after the Node half).

A short, self-written PyTorch version of the FLUX.1 transformer at the depth the Node half built
(2 double + 2 single blocks at full width), following black-forest-labs/flux
src/flux/modules/layers.py and model.py: DoubleStreamBlock, SingleStreamBlock, EmbedND/rope,
apply_rope, QKNorm (RMSNorm in float32), LastLayer, timestep_embedding (time factor 1000), with
torch.nn.functional.scaled_dot_product_attention. It reads the very checkpoint the Node half wrote
(safetensors, bf16) and the inputs it fed, and writes torch.json:

- per-block times (double, single) and the 2 + 2 forward at each size, bf16, on the same card;
  the 12B step extrapolated as rest + 19 double + 38 single, like ours;
- the 2 + 2 output of ours (ONNX Runtime, fp16) against this code in float32 (TF32 off) and in
  bf16, and bf16 against float32, as max and RMS relative errors;
- the host-to-device copy rate (pageable and pinned);
- torch.cuda.max_memory_allocated per phase, and each phase's start and end (epoch ms) so the
  report can read nvidia-smi's peak for it.

Usage: torch_reference.py --work DIR --out torch.json --mode gpu|dry
"""

import argparse
import json
import math
import os
import time
import traceback


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--work", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--mode", choices=["gpu", "dry"], required=True)
    args = ap.parse_args()
    result = {"phases": [], "errors": [], "maxAllocatedMiB": {}}

    def save():
        with open(args.out, "w") as f:
            json.dump(result, f, indent=2)
            f.write("\n")

    try:
        import numpy as np
        import torch
        import torch.nn.functional as F
        from safetensors.torch import load_file
    except Exception as e:  # the run script checks first; this keeps a hand-run honest too
        result["skipped"] = f"cannot import torch, numpy and safetensors: {e}"
        save()
        return 0

    cuda = args.mode == "gpu"
    if cuda and not torch.cuda.is_available():
        result["errors"].append("mode gpu but torch.cuda.is_available() is False")
        save()
        return 1
    dev = torch.device("cuda" if cuda else "cpu")
    result["torch"] = torch.__version__
    result["device"] = torch.cuda.get_device_name(0) if cuda else "cpu (dry run)"

    width = os.path.join(args.work, "width")
    with open(os.path.join(width, "config.json")) as f:
        cfg = json.load(f)
    with open(os.path.join(width, "profile.json")) as f:
        prof = json.load(f)
    head_dim = cfg.get("attention_head_dim", 128)
    heads = cfg.get("num_attention_heads", 24)
    hidden = head_dim * heads
    mlp_hidden = 4 * hidden
    axes = cfg.get("axes_dims_rope", [16, 56, 56])
    n_double = cfg["num_layers"]
    n_single = cfg["num_single_layers"]
    joint = cfg.get("joint_attention_dim", 4096)
    theta = 10000

    def phase(name, body):
        if cuda:
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        start = time.time() * 1000
        print(f"torch: {name} …", flush=True)
        try:
            return body()
        except Exception:
            msg = traceback.format_exc(limit=4)
            print(msg, flush=True)
            result["errors"].append(f"{name}: {msg.strip().splitlines()[-1]}")
            return None
        finally:
            if cuda:
                torch.cuda.synchronize()
                result["maxAllocatedMiB"][name] = round(torch.cuda.max_memory_allocated() / 2**20)
            end = time.time() * 1000
            result["phases"].append({"name": name, "start": start, "end": end})
            print(f"  {name}: {(end - start) / 1000:.1f} s", flush=True)
            save()

    # --- BFL semantics -------------------------------------------------------------------------

    def linear(p, name, x):
        return F.linear(x, p[name + ".weight"], p[name + ".bias"])

    def layer_norm(x):
        return F.layer_norm(x, (x.shape[-1],), eps=1e-6)  # elementwise_affine=False

    def rms_norm(x, scale):
        dtype = x.dtype
        x = x.float()
        rrms = torch.rsqrt(torch.mean(x**2, dim=-1, keepdim=True) + 1e-6)
        return (x * rrms).to(dtype) * scale

    def qk_norm(p, prefix, q, k, v):
        q = rms_norm(q, p[prefix + ".query_norm.scale"])
        k = rms_norm(k, p[prefix + ".key_norm.scale"])
        return q.to(v), k.to(v)

    def rope(pos, dim):
        scale = torch.arange(0, dim, 2, dtype=torch.float64, device=pos.device) / dim
        omega = 1.0 / (theta**scale)
        out = torch.einsum("...n,d->...nd", pos.to(torch.float64), omega)
        out = torch.stack([torch.cos(out), -torch.sin(out), torch.sin(out), torch.cos(out)], dim=-1)
        return out.reshape(*out.shape[:-1], 2, 2).float()

    def embed_nd(ids):
        return torch.cat([rope(ids[..., i], axes[i]) for i in range(len(axes))], dim=-3).unsqueeze(1)

    def apply_rope(xq, xk, freqs):
        xq_ = xq.float().reshape(*xq.shape[:-1], -1, 1, 2)
        xk_ = xk.float().reshape(*xk.shape[:-1], -1, 1, 2)
        xq_out = freqs[..., 0] * xq_[..., 0] + freqs[..., 1] * xq_[..., 1]
        xk_out = freqs[..., 0] * xk_[..., 0] + freqs[..., 1] * xk_[..., 1]
        return xq_out.reshape(*xq.shape).type_as(xq), xk_out.reshape(*xk.shape).type_as(xk)

    def attention(q, k, v, pe):
        q, k = apply_rope(q, k, pe)
        x = F.scaled_dot_product_attention(q, k, v)
        b, h, n, d = x.shape
        return x.permute(0, 2, 1, 3).reshape(b, n, h * d)

    def split_heads(qkv):
        b, n, _ = qkv.shape
        return qkv.reshape(b, n, 3, heads, head_dim).permute(2, 0, 3, 1, 4)

    def timestep_embedding(t, dim, max_period=10000, time_factor=1000.0):
        t = time_factor * t
        half = dim // 2
        freqs = torch.exp(-math.log(max_period) * torch.arange(0, half, dtype=torch.float32, device=t.device) / half)
        args_ = t[:, None].float() * freqs[None]
        return torch.cat([torch.cos(args_), torch.sin(args_)], dim=-1).to(t)

    def mlp_embedder(p, name, x):
        return linear(p, name + ".out_layer", F.silu(linear(p, name + ".in_layer", x)))

    def mlp(p, name, x):
        return linear(p, name + ".2", F.gelu(linear(p, name + ".0", x), approximate="tanh"))

    def double_block(p, i, img, txt, vec, pe):
        pre = f"double_blocks.{i}"
        mods, qkv = {}, {}
        for s, x in (("img", img), ("txt", txt)):
            m = linear(p, f"{pre}.{s}_mod.lin", F.silu(vec))[:, None, :].chunk(6, dim=-1)
            mods[s] = m
            q, k, v = split_heads(linear(p, f"{pre}.{s}_attn.qkv", (1 + m[1]) * layer_norm(x) + m[0]))
            q, k = qk_norm(p, f"{pre}.{s}_attn.norm", q, k, v)
            qkv[s] = (q, k, v)
        q, k, v = (torch.cat((qkv["txt"][j], qkv["img"][j]), dim=2) for j in range(3))
        attn = attention(q, k, v, pe)
        t = txt.shape[1]
        outs = {}
        for s, x, a in (("img", img, attn[:, t:]), ("txt", txt, attn[:, :t])):
            m = mods[s]
            x = x + m[2] * linear(p, f"{pre}.{s}_attn.proj", a)
            outs[s] = x + m[5] * mlp(p, f"{pre}.{s}_mlp", (1 + m[4]) * layer_norm(x) + m[3])
        return outs["img"], outs["txt"]

    def single_block(p, i, x, vec, pe):
        pre = f"single_blocks.{i}"
        shift, scale, gate = linear(p, f"{pre}.modulation.lin", F.silu(vec))[:, None, :].chunk(3, dim=-1)
        y = linear(p, f"{pre}.linear1", (1 + scale) * layer_norm(x) + shift)
        qkv, m = torch.split(y, [3 * hidden, mlp_hidden], dim=-1)
        q, k, v = split_heads(qkv)
        q, k = qk_norm(p, f"{pre}.norm", q, k, v)
        attn = attention(q, k, v, pe)
        return x + gate * linear(p, f"{pre}.linear2", torch.cat((attn, F.gelu(m, approximate="tanh")), 2))

    def forward(p, inp, dtype, bfl_time=False):
        # BFL feeds sigma in the model's dtype, so in bf16 1000·σ is rounded before the sinusoid
        # (750 becomes 752). Ours computes it in float32 from a float32 sigma; so does this code
        # unless bfl_time, which the comparison also reports.
        t = inp["timesteps"].to(dtype) if bfl_time else inp["timesteps"].float()
        img = linear(p, "img_in", inp["img"].to(dtype))
        vec = mlp_embedder(p, "time_in", timestep_embedding(t, 256).to(dtype))
        vec = vec + mlp_embedder(p, "vector_in", inp["y"].to(dtype))
        txt = linear(p, "txt_in", inp["txt"].to(dtype))
        pe = embed_nd(torch.cat((inp["txt_ids"], inp["img_ids"]), dim=1))
        for i in range(n_double):
            img, txt = double_block(p, i, img, txt, vec, pe)
        x = torch.cat((txt, img), 1)
        for i in range(n_single):
            x = single_block(p, i, x, vec, pe)
        x = x[:, txt.shape[1] :, ...]
        shift, scale = linear(p, "final_layer.adaLN_modulation.1", F.silu(vec)).chunk(2, dim=1)
        x = (1 + scale[:, None, :]) * layer_norm(x) + shift[:, None, :]
        return linear(p, "final_layer.linear", x)

    # --- measurements --------------------------------------------------------------------------

    def sync():
        if cuda:
            torch.cuda.synchronize()

    def time_it(fn):
        for _ in range(prof["warmup"]):
            fn()
        sync()
        samples = []
        for _ in range(prof["runs"]):
            if cuda:
                a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                a.record()
                fn()
                b.record()
                b.synchronize()
                samples.append(a.elapsed_time(b))
            else:
                t = time.perf_counter()
                fn()
                samples.append((time.perf_counter() - t) * 1000)
        samples.sort()
        return {"ms": samples[len(samples) // 2], "minMs": samples[0], "maxMs": samples[-1], "runs": len(samples)}

    def stats(got, ref):
        got, ref = got.double().flatten(), ref.double().flatten()
        d = got - ref
        return {
            "maxRel": (d.abs().max() / ref.abs().max()).item(),
            "rmsRel": (d.norm() / ref.norm()).item(),
            "finite": bool(torch.isfinite(got).all().item()),
        }

    def load_inputs(size):
        d = os.path.join(args.work, "compare", str(size))
        names = ["img", "img_ids", "txt", "txt_ids", "timesteps", "y", "ours"]
        return {n: torch.from_numpy(np.load(os.path.join(d, n + ".npy"))).to(dev) for n in names}

    ckpt = os.path.join(width, "flux1-schnell.safetensors")
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    with torch.inference_mode():
        p16 = phase("torch load bf16", lambda: load_file(ckpt, device=str(dev)))
        if p16 is None:
            return 1
        result["blocks"], result["perBlock"], result["compare"] = {}, {}, {}
        gen = torch.Generator(device=dev).manual_seed(3)
        for size in prof["sizes"]:

            def blocks(size=size):
                side = size // 16
                n_img, n_txt = side * side, prof["txtTokens"]
                img = torch.randn(1, n_img, hidden, generator=gen, device=dev).to(torch.bfloat16)
                txt = torch.randn(1, n_txt, hidden, generator=gen, device=dev).to(torch.bfloat16)
                vec = torch.randn(1, hidden, generator=gen, device=dev).to(torch.bfloat16)
                ids = torch.zeros(1, n_txt + n_img, 3, device=dev)
                r = torch.arange(n_img, device=dev)
                ids[0, n_txt:, 1], ids[0, n_txt:, 2] = (r // side).float(), (r % side).float()
                pe = embed_nd(ids)
                x = torch.cat((txt, img), 1)
                inp = load_inputs(size)
                t = {
                    "double": time_it(lambda: double_block(p16, 0, img, txt, vec, pe)),
                    "single": time_it(lambda: single_block(p16, 0, x, vec, pe)),
                    "model": time_it(lambda: forward(p16, inp, torch.bfloat16)),
                }
                result["blocks"][str(size)] = t
                rest = t["model"]["ms"] - n_double * t["double"]["ms"] - n_single * t["single"]["ms"]
                result["perBlock"][str(size)] = {
                    "doubleMs": t["double"]["ms"],
                    "singleMs": t["single"]["ms"],
                    "restMs": rest,
                    "step12BMs": rest + 19 * t["double"]["ms"] + 38 * t["single"]["ms"],
                }

            phase(f"torch blocks bf16 {size}", blocks)

        bf16_out = {}

        def compare_bf16():
            for size in prof["sizes"]:
                inp = load_inputs(size)
                bf16_out[size] = forward(p16, inp, torch.bfloat16).float()
                bf16_out[f"{size} bfl"] = forward(p16, inp, torch.bfloat16, bfl_time=True).float()
                result["compare"][str(size)] = {"ours fp16 vs torch bf16": stats(inp["ours"], bf16_out[size])}

        phase("torch compare bf16", compare_bf16)
        del p16

        def compare_fp32():
            p32 = {k: v.float() for k, v in load_file(ckpt, device=str(dev)).items()}
            for size in prof["sizes"]:
                inp = load_inputs(size)
                ref = forward(p32, inp, torch.float32)
                c = result["compare"].setdefault(str(size), {})
                c["ours fp16 vs torch fp32"] = stats(inp["ours"], ref)
                if size in bf16_out:
                    c["torch bf16 vs torch fp32"] = stats(bf16_out[size], ref)
                    c["torch bf16, sigma in bf16 as BFL feeds it, vs torch fp32"] = stats(bf16_out[f"{size} bfl"], ref)

        phase("torch compare fp32 (TF32 off)", compare_fp32)

        def copy_rate():
            n = 256 * 2**20
            host = torch.ones(n, dtype=torch.uint8)
            pinned = host.pin_memory()
            rates = {}
            for name, src in (("pageableGBs", host), ("pinnedGBs", pinned)):
                best = []
                for _ in range(5):
                    sync()
                    t = time.perf_counter()
                    src.to(dev, non_blocking=src.is_pinned())
                    sync()
                    best.append(time.perf_counter() - t)
                best.sort()
                rates[name] = n / best[len(best) // 2] / 1e9
            result["copy"] = {"bytes": n, **rates}

        if cuda:
            phase("torch host-to-device copy", copy_rate)
    save()
    return 1 if result["errors"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
