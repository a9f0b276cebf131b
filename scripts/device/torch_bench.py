"""PyTorch side of Kiln's device harness: the ceilings (device-to-device copy bandwidth, bf16 and FP8 matrix
rates) and the reference timings of the kernels Kiln times (FP8 linear, absorbed MLA decode, an R1 MoE layer),
on the same GPU in the same call. Usage: python3 torch_bench.py SECTION... [--out FILE.json]
Sections: ceilings, kernels. Prints one line per measurement and BANDWIDTH_GBS=<x> for the Java benchmark."""
import json
import math
import sys
import time
import traceback

import torch

results = []


def timed(fn, iters=20, warm=3):
    for _ in range(warm):
        fn()
    torch.cuda.synchronize()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    times = []
    for _ in range(3):
        start.record()
        for _ in range(iters):
            fn()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end) / iters)
    return sorted(times)[1]  # median of three runs of `iters`


def graphed(fn, iters=20):
    """The GPU's time for one call of fn, without the host's launch cost: iters calls captured in one CUDA graph."""
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        fn()  # warm-up off the default stream, as torch.cuda.graph wants
    torch.cuda.current_stream().wait_stream(side)
    g = torch.cuda.CUDAGraph()
    with torch.cuda.graph(g):
        for _ in range(iters):
            fn()
    return timed(g.replay, iters=5, warm=1) / iters


def report(section, name, shape, ms, nbytes=0.0, flops=0.0, note=""):
    gbs = nbytes / (ms * 1e6) if nbytes else 0.0
    tflops = flops / (ms * 1e9) if flops else 0.0
    results.append(dict(section=section, name=name, shape=shape, ms=ms, bytes=nbytes, flops=flops, gbs=gbs, tflops=tflops, note=note))
    print(f"[torch] {section:8s} {name:30s} {shape:30s} {ms:9.3f} ms {gbs:8.0f} GB/s {tflops:7.1f} TFLOP/s {note}", flush=True)


def ceilings():
    dev = torch.cuda.get_device_properties(0)
    print(f"[torch] {torch.cuda.get_device_name(0)}, {dev.multi_processor_count} SMs, {dev.total_memory / 2**30:.1f} GiB, "
          f"torch {torch.__version__}, CUDA {torch.version.cuda}", flush=True)
    n = 2 << 30
    a = torch.randint(0, 255, (n,), dtype=torch.uint8, device="cuda")
    b = torch.empty_like(a)
    ms = timed(lambda: b.copy_(a), iters=10)
    report("ceiling", "d2d copy (read+write)", "2 GiB", ms, 2.0 * n)
    print(f"BANDWIDTH_GBS={2.0 * n / (ms * 1e6):.1f}", flush=True)
    del a, b
    m = 8192
    x = torch.randn(m, m, device="cuda", dtype=torch.bfloat16)
    y = torch.randn(m, m, device="cuda", dtype=torch.bfloat16)
    report("ceiling", "bf16 matmul", f"{m}^3", timed(lambda: x @ y, iters=10), flops=2.0 * m ** 3)
    xf = x.to(torch.float8_e4m3fn)
    yf = y.to(torch.float8_e4m3fn).t().contiguous().t()  # column-major second operand
    one = torch.tensor(1.0, device="cuda")
    report("ceiling", "fp8 matmul (_scaled_mm)", f"{m}^3", timed(lambda: torch._scaled_mm(xf, yf, scale_a=one, scale_b=one, out_dtype=torch.bfloat16), iters=10),
           flops=2.0 * m ** 3)


def fp8_weight(n, k):
    w = (torch.randn(n, k, device="cuda") * 2).clamp(-448, 448).to(torch.float8_e4m3fn)
    s = torch.rand((n + 127) // 128, (k + 127) // 128, device="cuda") / (2 * math.sqrt(k)) + 0.5 / (2 * math.sqrt(k))
    return w, s


def dequant(w, s):
    n, k = w.shape
    full = s.repeat_interleave(128, 0)[:n].repeat_interleave(128, 1)[:, :k]
    return (w.float() * full).to(torch.bfloat16)


def blockwise_mm(x, w, s):
    """x [m, k] bf16 quantised per 1x128 block, w [n, k] fp8 with 128x128 scales, via torch._scaled_mm (raises when unsupported)."""
    m, k = x.shape
    xb = x.float().view(m, k // 128, 128)
    amax = xb.abs().amax(-1).clamp(min=1e-12)
    xs = (amax / 448.0)
    xq = (xb / xs.unsqueeze(-1)).to(torch.float8_e4m3fn).view(m, k)
    scale_a = xs.t().contiguous().t()  # [m, k/128], m-major as cuBLAS wants
    return lambda: torch._scaled_mm(xq, w.t(), scale_a=scale_a, scale_b=s.t(), out_dtype=torch.bfloat16)


def fp8_rows():
    """FP8 linear at R1 shapes and 1-4,096 rows: launched one after another, and replayed from a CUDA graph."""
    torch.manual_seed(0)
    shapes = [(24576, 1536), (18432, 7168), (7168, 16384), (2048, 7168)]
    for n, k in shapes:
        w, s = fp8_weight(n, k)
        wb = dequant(w, s)
        for m in (1, 8, 16, 24, 32, 64, 100, 128, 512, 4096):
            x = torch.randn(m, k, device="cuda", dtype=torch.bfloat16)
            nbytes, flops = n * k + 2.0 * m * (n + k), 2.0 * m * n * k
            try:
                f = blockwise_mm(x, w, s)
                f()
                report("kernel", "fp8 linear _scaled_mm blockwise", f"{m}x{k}->{n}", timed(f), nbytes, flops)
            except Exception as e:  # noqa: BLE001 - report and fall back
                f = None
                if m == 1 and n == shapes[0][0]:
                    print(f"[torch] blockwise _scaled_mm unavailable: {type(e).__name__}: {str(e)[:200]}", flush=True)
                report("kernel", "fp8 linear dequant+matmul", f"{m}x{k}->{n}", timed(lambda: x @ dequant(w, s).t()), nbytes, flops)
            try:
                if f is not None:
                    report("kernel", "fp8 linear _scaled_mm blockwise graphed", f"{m}x{k}->{n}", graphed(f), nbytes, flops)
            except Exception as e:  # noqa: BLE001 - the eager figure stands
                print(f"[torch] graphed _scaled_mm failed at {m}x{k}->{n}: {type(e).__name__}: {str(e)[:200]}", flush=True)
            report("kernel", "bf16 matmul same shape", f"{m}x{k}->{n}", timed(lambda: x @ wb.t()), 2.0 * n * k + 2.0 * m * (n + k), flops)
        del w, s, wb


def kernels():
    fp8_rows()
    # absorbed MLA decode: 128 heads over a latent cache of 576 (512 value) per token
    heads, ctx = 128, 4096
    for b in (1, 64, 128):
        kv = torch.randn(b, ctx + 1, 576, device="cuda", dtype=torch.bfloat16)
        q = torch.randn(b, heads, 576, device="cuda", dtype=torch.bfloat16)

        def mla():
            p = torch.softmax((q @ kv.transpose(1, 2)).float() * 0.1, -1).to(torch.bfloat16)
            return p @ kv[..., :512]
        report("kernel", "mla decode (torch bmm)", f"bs {b} ctx {ctx} 128h", timed(mla), b * (ctx + 1) * 576 * 2.0,
               b * (ctx + 1) * heads * 2.0 * (576 + 512))
        del kv, q
    # one R1 MoE layer: 256 FP8 experts 7168x2048, sigmoid + bias, 8 groups keep 4, top 8, normalised, x2.5
    e, hidden, inter, topk = 256, 7168, 2048, 8
    gate = torch.empty(e, inter, hidden, device="cuda", dtype=torch.float8_e4m3fn)
    up = torch.empty_like(gate)
    down = torch.empty(e, hidden, inter, device="cuda", dtype=torch.float8_e4m3fn)
    for t_ in (gate, up, down):
        for i in range(e):
            t_[i] = (torch.randn(t_.shape[1:], device="cuda") * 2).clamp(-448, 448).to(torch.float8_e4m3fn)
    sg = torch.full((e, inter // 128, hidden // 128), 1 / (2 * math.sqrt(hidden)), device="cuda")
    sd = torch.full((e, hidden // 128, inter // 128), 1 / (2 * math.sqrt(inter)), device="cuda")
    bias = torch.zeros(e, device="cuda")

    def moe(x, logits):
        scores = logits.float().sigmoid()
        choice = scores + bias
        groups = choice.view(-1, 8, e // 8).topk(2, -1).values.sum(-1)
        keep = torch.zeros_like(groups).scatter_(1, groups.topk(4, -1).indices, 1.0)
        choice = choice.masked_fill(keep.repeat_interleave(e // 8, 1) == 0, float("-inf"))
        ids = choice.topk(topk, -1).indices
        wts = scores.gather(1, ids)
        wts = wts / wts.sum(-1, keepdim=True) * 2.5
        out = torch.zeros(x.shape[0], hidden, device="cuda", dtype=torch.float32)
        flat = ids.flatten()
        order = flat.argsort()
        counts = torch.bincount(flat, minlength=e).tolist()
        start = 0
        for ex, c in enumerate(counts):
            if c == 0:
                continue
            sel = order[start:start + c]
            start += c
            tok = sel // topk
            xs = x[tok]
            g = xs @ dequant(gate[ex], sg[ex]).t()
            u = xs @ dequant(up[ex], sg[ex]).t()
            y = (torch.nn.functional.silu(g) * u) @ dequant(down[ex], sd[ex]).t()
            out.index_add_(0, tok, y.float() * wts.flatten()[sel].unsqueeze(1))
        return out.to(torch.bfloat16)

    for t in (1, 8, 64, 512, 4096):
        x = torch.randn(t, hidden, device="cuda", dtype=torch.bfloat16)
        logits = torch.randn(t, e, device="cuda")
        touched = e * (1 - (1 - topk / e) ** t)
        report("kernel", "moe layer fp8 (torch, dequant)", f"{t} tok 256e top8", timed(lambda: moe(x, logits), iters=3, warm=1),
               touched * 3.0 * hidden * inter, 2.0 * t * topk * 3 * hidden * inter)


def main():
    args = sys.argv[1:]
    out = None
    if "--out" in args:
        i = args.index("--out")
        out = args[i + 1]
        del args[i:i + 2]
    for section in args or ["ceilings", "kernels"]:
        t0 = time.time()
        try:
            {"ceilings": ceilings, "kernels": kernels, "fp8": fp8_rows}[section]()
        except Exception:  # noqa: BLE001 - the harness goes on to the next section
            traceback.print_exc()
            print(f"[torch] section {section} FAILED", flush=True)
        print(f"[torch] section {section} took {time.time() - t0:.1f} s", flush=True)
        torch.cuda.empty_cache()
    if out:
        with open(out, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
