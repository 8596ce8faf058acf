"""The PyTorch peer of bench/gpu.sh: training steps of the 10-layer WRN and of WRN-pMoE (pmoe's
sparse formulation: each expert convolves only its l gathered patches) at any widening factor, in
the paper's two settings, timed on CUDA (or the CPU for the tiny mode). Random weights and images:
it times, it does not compare numbers (bench/reference/models.py's peer does that at w = 1).

    /usr/bin/python3 bench/reference/wrn_gpu.py '{"device": "cuda", "steps": 20, "warmup": 3,
        "cases": [{"architecture": "wrn-pmoe", "setting": "celeba", "wideningFactor": 10, "batch": 128}]}'

Prints one JSON object: torch's version, the device, and per case and mode the median-free mean
time of `steps` back-to-back SGD steps (images per second). Modes: fp32 (TF32 off, as pmoe
computes), tf32 (cuDNN's and cuBLAS's default on Ampere and later), bf16 (autocast, TF32 on);
on the CPU only fp32.
"""
import json
import math
import sys
import time

import torch
import torch.nn.functional as F

SETTINGS = {
    # input, patch, k, l, expert kernel, classes
    'cifar': dict(input=32, patch=1, experts=4, l=16, kernel=1, classes=10),
    'celeba': dict(input=64, patch=4, experts=8, l=2, kernel=3, classes=2),
}


def same_pad(x, kernel, stride):
    """TensorFlow's 'same' padding: total max((out - 1) s + k - in, 0), the extra pixel at the end."""
    def amount(size):
        out = -(-size // stride)
        return max((out - 1) * stride + kernel - size, 0)
    ph, pw = amount(x.shape[2]), amount(x.shape[3])
    return F.pad(x, (pw // 2, pw - pw // 2, ph // 2, ph - ph // 2)) if ph or pw else x


class Conv(torch.nn.Module):
    def __init__(self, cin, cout, kernel, stride):
        super().__init__()
        self.kernel, self.stride = kernel, stride
        self.conv = torch.nn.Conv2d(cin, cout, kernel, stride)

    def forward(self, x):
        return self.conv(same_pad(x, self.kernel, self.stride) if self.kernel > 1 else x)


class BnRelu(torch.nn.Module):
    def __init__(self, c):
        super().__init__()
        self.bn = torch.nn.BatchNorm2d(c, eps=1e-3, momentum=0.01)

    def forward(self, x):
        return F.relu(self.bn(x))


class Block(torch.nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.pre1, self.conv1 = BnRelu(cin), Conv(cin, cout, 3, stride)
        self.pre2, self.conv2 = BnRelu(cout), Conv(cout, cout, 3, 1)
        self.shortcut = Conv(cin, cout, 1, stride) if stride != 1 or cin != cout else None

    def forward(self, x):
        out = self.conv2(self.pre2(self.conv1(self.pre1(x))))
        return out + (self.shortcut(x) if self.shortcut is not None else x)


class PatchMoe(torch.nn.Module):
    """Expert choice per image (top l of n patches per expert), softmax-over-all gates, each expert a
    conv on its gathered patches only (zero padding at the patch border), written back in its own
    channel slice, zeros where it took nothing. The experts run as one grouped convolution."""

    def __init__(self, c, patch, experts, l, kernel):
        super().__init__()
        self.patch, self.k, self.l, self.kernel = patch, experts, l, kernel
        self.f = c // experts
        self.router = torch.nn.Parameter(torch.randn(patch * patch * c, experts) * 1e-4)
        self.experts = torch.nn.Conv2d(experts * c, experts * self.f, kernel, padding=kernel // 2, groups=experts)

    def forward(self, z):
        b, c, h, w = z.shape
        p, k, l, f = self.patch, self.k, self.l, self.f
        rows, cols = h // p, w // p
        n = rows * cols
        patches = z.reshape(b, c, rows, p, cols, p).permute(0, 2, 4, 3, 5, 1).reshape(b, n, p * p * c)
        scores = (patches @ self.router).transpose(1, 2)                                   # [b, k, n]
        values, idx = scores.topk(l, dim=-1)
        gates = torch.exp(values - torch.logsumexp(scores, dim=-1, keepdim=True))         # [b, k, l]
        chosen = torch.gather(patches.unsqueeze(1).expand(b, k, n, p * p * c), 2, idx.unsqueeze(-1).expand(b, k, l, p * p * c))
        images = chosen.reshape(b, k, l, p, p, c).permute(0, 2, 1, 5, 3, 4).reshape(b * l, k * c, p, p)
        y = self.experts(images).reshape(b, l, k, f * p * p).transpose(1, 2) * gates.unsqueeze(-1)   # [b, k, l, f p p]
        placed = torch.zeros(b, k, n, f * p * p, dtype=y.dtype, device=y.device)
        placed = placed.scatter(2, idx.unsqueeze(-1).expand(b, k, l, f * p * p), y)
        placed = placed.reshape(b, k, rows, cols, f, p, p).permute(0, 1, 4, 2, 5, 3, 6)
        return placed.reshape(b, k * f, h, w)


class Wrn(torch.nn.Module):
    def __init__(self, architecture, w, channels, s):
        super().__init__()
        self.stem = Conv(channels, 16, 3, 1)
        self.block1 = Block(16, 16 * w, 1)
        self.block2 = Block(16 * w, 32 * w, 2)
        if architecture == 'wrn':
            self.block3 = Block(32 * w, 64 * w, 2)
            self.moe = None
        else:
            self.block3 = torch.nn.Sequential(BnRelu(32 * w), Conv(32 * w, 64 * w, 3, 2), BnRelu(64 * w))
            self.moe = PatchMoe(64 * w, s['patch'], s['experts'], s['l'], s['kernel'])
        self.final = BnRelu(64 * w)
        self.dense = torch.nn.Linear(64 * w, s['classes'])

    def forward(self, x):
        x = self.block3(self.block2(self.block1(self.stem(x))))
        if self.moe is not None:
            x = self.moe(x)
        return self.dense(self.final(x).mean(dim=(2, 3)))


def time_case(case, device, mode, steps, warmup):
    setting = SETTINGS[case['setting']]
    size = case.get('inputSize') or setting['input']
    channels = case.get('channels', 3)
    batch = case['batch']
    # A smaller input than the setting's (the tiny mode) caps l at the n patches of its map.
    patches = (math.ceil(math.ceil(size / 2) / 2) // setting['patch']) ** 2
    setting = dict(setting, l=min(setting['l'], patches))
    model = Wrn(case['architecture'], case['wideningFactor'], channels, setting).to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    x = torch.randn(batch, channels, size, size, device=device)
    y = torch.randint(0, setting['classes'], (batch,), device=device)
    cuda = device.type == 'cuda'
    if cuda:
        torch.backends.cudnn.allow_tf32 = mode != 'fp32'
        torch.backends.cuda.matmul.allow_tf32 = mode != 'fp32'
        torch.backends.cudnn.benchmark = True

    def step():
        optimizer.zero_grad(set_to_none=True)
        if mode == 'bf16':
            with torch.autocast(device_type='cuda', dtype=torch.bfloat16):
                loss = F.cross_entropy(model(x), y)
        else:
            loss = F.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()

    def sync():
        if cuda:
            torch.cuda.synchronize()

    for _ in range(warmup):
        step()
    sync()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    sync()
    ms = 1000 * (time.perf_counter() - start) / steps
    return {'msPerStep': round(ms, 3), 'imagesPerSecond': round(1000 * batch / ms, 1)}


def main():
    request = json.loads(sys.argv[1])
    device = torch.device(request.get('device', 'cuda' if torch.cuda.is_available() else 'cpu'))
    if device.type == 'cuda' and not torch.cuda.is_available():
        raise SystemExit(json.dumps({'error': f'torch {torch.__version__} sees no CUDA device'}))
    modes = ['fp32', 'tf32', 'bf16'] if device.type == 'cuda' else ['fp32']
    torch.manual_seed(0)
    results = []
    for case in request['cases']:
        timed = {mode: time_case(case, device, mode, request.get('steps', 20), request.get('warmup', 3)) for mode in modes}
        results.append({**case, **timed})
    name = torch.cuda.get_device_name(device) if device.type == 'cuda' else 'cpu'
    print(json.dumps({'torch': torch.__version__, 'device': name, 'cases': results}))


if __name__ == '__main__':
    main()
