"""PyTorch reference models for pmoe's benchmark, written from the paper's formulation
(Chowdhury et al., ICML 2023, eq. 1 and eq. 5), the way a PyTorch user would write them.

Symbols: batch B, n patches of d values, m neurons (m/k per expert), k experts, l patches per
expert. Inputs arrive as patches [B, n, d]; for an MNIST-patch image n = 16 patches of 28x28.
Output weights a are fixed N(0, 1) buffers, never trained. Loss: log(1 + exp(-y f)) with
y = +1 for class 0 and -1 for class 1 (pmoe's convention), averaged over the batch.
Initialisation ('paper' scheme, as pmoe's default): hidden w ~ N(0, 1/m), routers N(0, 1e-4^2).
"""
import math

import torch
import torch.nn.functional as F


def logistic_loss(f, labels):
    """log(1 + exp(-y f)), y = 1 - 2 * label."""
    y = 1.0 - 2.0 * labels.to(f.dtype)
    return F.softplus(-y * f.reshape(-1)).mean()


class TwoLayerCnn(torch.nn.Module):
    """f_C(x) = sum_r a_r (1/n) sum_j ReLU(<w_r, x^(j)>)  (eq. 5).

    formulation 'conv': the image is rebuilt from its patches once, outside the step (data
    preparation: a PyTorch user has the 112x112 image), and the m filters are a 28x28 stride-28
    convolution over [B, 1, 112, 112] (oneDNN). formulation 'linear': one matrix product over all
    B*n patches. Both hold the same weights: the conv kernel is w_r reshaped to 28x28.
    """

    def __init__(self, n, d, m, formulation='conv'):
        super().__init__()
        self.n, self.d, self.m = n, d, m
        self.formulation = formulation
        self.side = int(math.isqrt(d))          # patch side (28)
        self.grid = int(math.isqrt(n))          # patches per image side (4)
        if formulation == 'conv' and (self.side ** 2 != d or self.grid ** 2 != n):
            raise ValueError('conv formulation needs square patches on a square grid')
        if formulation == 'conv':
            self.weight = torch.nn.Parameter(torch.randn(m, 1, self.side, self.side) / math.sqrt(m))
        else:
            self.weight = torch.nn.Parameter(torch.randn(d, m) / math.sqrt(m))
        self.register_buffer('a', torch.randn(m, 1))

    def prepare(self, patches):
        """Model input from patches [B, n, d]: the image [B, 1, H, W] or the patches themselves."""
        if self.formulation != 'conv':
            return patches
        b, g, s = patches.shape[0], self.grid, self.side
        return patches.reshape(b, g, g, s, s).permute(0, 1, 3, 2, 4).reshape(b, 1, g * s, g * s).contiguous()

    def forward(self, x):
        if self.formulation == 'conv':
            h = F.relu(F.conv2d(x, self.weight, stride=self.side))      # [B, m, 4, 4]
            pooled = h.mean(dim=(2, 3))                                 # (1/n) sum_j
        else:
            pooled = F.relu(x @ self.weight).mean(dim=1)                # [B, m]
        return pooled @ self.a                                          # [B, 1]

    def load(self, weights):
        with torch.no_grad():
            hidden = weights['hidden']                                  # [d, m] as in pmoe
            if self.formulation == 'conv':
                self.weight.copy_(hidden.t().reshape(self.m, 1, self.side, self.side))
            else:
                self.weight.copy_(hidden)
            self.a.copy_(weights['output'])

    def export(self):
        """Weights and gradients in pmoe's layout: hidden [d, m]."""
        def as_pmoe(t):
            return t.reshape(self.m, self.d).t() if self.formulation == 'conv' else t
        return {'hidden': as_pmoe(self.weight.detach())}, {'hidden': as_pmoe(self.weight.grad)}


class TwoLayerPmoe(torch.nn.Module):
    """f_M(x) = sum_s sum_r (a_{r,s} / l) sum_{j in J_s(x)} ReLU(<w_{r,s}, x^(j)>) G_{j,s}(x)  (eq. 1).

    g_{j,s} = <w_s, x^(j)>; J_s(x) = the l largest g_{j,s} over j (each expert picks its own
    patches); G = softmax over the l selected scores (joint training) or 1 (gate 'hard',
    separate training's expert phase). Written with topk + gather + einsum; autograd carries
    the router's gradient through the top-l values into the softmax.
    """

    def __init__(self, n, d, k, h, l, gate='softmax-selected', routers_frozen=False):
        super().__init__()
        self.n, self.d, self.k, self.h, self.l, self.gate = n, d, k, h, l, gate
        self.routers = torch.nn.Parameter(torch.randn(d, k) * 1e-4, requires_grad=not routers_frozen)
        self.experts = torch.nn.Parameter(torch.randn(k, d, h) / math.sqrt(k * h))
        self.register_buffer('a', torch.randn(k * h, 1))

    def prepare(self, patches):
        return patches

    def forward(self, x):
        b, n, d = x.shape
        scores = torch.einsum('bnd,dk->bkn', x, self.routers)           # g_{j,s}: [B, k, n]
        values, idx = scores.topk(self.l, dim=-1)                       # J_s(x): [B, k, l]
        chosen = torch.gather(x.unsqueeze(1).expand(b, self.k, n, d), 2,
                              idx.unsqueeze(-1).expand(b, self.k, self.l, d))   # [B, k, l, d]
        act = F.relu(torch.einsum('bkld,kdh->bklh', chosen, self.experts))      # [B, k, l, h]
        if self.gate == 'softmax-selected':
            act = act * torch.softmax(values, dim=-1).unsqueeze(-1)
        elif self.gate != 'hard':
            raise ValueError(f'gate {self.gate} not in the reference')
        pooled = act.sum(dim=2).reshape(b, self.k * self.h)             # sum over J_s
        return (pooled @ self.a) / self.l

    def load(self, weights):
        with torch.no_grad():
            self.routers.copy_(weights['routers'])
            self.experts.copy_(weights['experts'])
            self.a.copy_(weights['output'])

    def export(self):
        weights = {'routers': self.routers.detach(), 'experts': self.experts.detach()}
        grads = {'experts': self.experts.grad}
        if self.routers.requires_grad:
            grads['routers'] = self.routers.grad
        return weights, grads


class PatchMoeLayer(torch.nn.Module):
    """The pMoE layer of WRN-pMoE on a feature map of 1x1 patches, channels last [B, H, W, C]:
    k routers score the H*W positions, each takes its top l, each expert is a 1x1 convolution
    (a matrix product) with bias on its l gathered positions, scaled by the softmax over the
    selected scores, written back into its channel slice; zeros where an expert took nothing.
    """

    def __init__(self, c, k, l, f):
        super().__init__()
        self.k, self.l, self.f = k, l, f
        self.routers = torch.nn.Parameter(torch.randn(c, k) / math.sqrt(c))
        self.kernels = torch.nn.Parameter(torch.randn(k, c, f) * math.sqrt(2.0 / c))
        self.biases = torch.nn.Parameter(torch.zeros(k, f))

    def forward(self, x):
        b, hgt, wid, c = x.shape
        n = hgt * wid
        patches = x.reshape(b, n, c)
        values, idx = torch.einsum('bnc,ck->bkn', patches, self.routers).topk(self.l, dim=-1)
        chosen = torch.gather(patches.unsqueeze(1).expand(b, self.k, n, c), 2,
                              idx.unsqueeze(-1).expand(b, self.k, self.l, c))       # [B, k, l, C]
        y = torch.einsum('bklc,kcf->bklf', chosen, self.kernels) + self.biases[None, :, None, :]
        y = y * torch.softmax(values, dim=-1).unsqueeze(-1)
        out = torch.zeros(b, self.k, n, self.f, dtype=x.dtype)
        out.scatter_(2, idx.unsqueeze(-1).expand(b, self.k, self.l, self.f), y)     # back to place
        return out.permute(0, 2, 1, 3).reshape(b, hgt, wid, self.k * self.f)

    def load(self, weights):
        with torch.no_grad():
            self.routers.copy_(weights['router'])                                    # [C, k]
            for s in range(self.k):
                self.kernels[s].copy_(weights[f'kernel{s}'].reshape(-1, self.f))    # [1,1,C,f]
                self.biases[s].copy_(weights[f'bias{s}'])


class DenseConv1x1(torch.nn.Module):
    """The dense comparison: a 1x1 convolution C -> C' over every position, NCHW (PyTorch's layout)."""

    def __init__(self, c, out):
        super().__init__()
        self.conv = torch.nn.Conv2d(c, out, 1)

    def prepare(self, x_nhwc):
        return x_nhwc.permute(0, 3, 1, 2).contiguous()

    def forward(self, x):
        return self.conv(x)

    def load(self, weights):
        with torch.no_grad():
            kernel = weights['kernel']                                               # [1,1,C,C'] (tfjs)
            self.conv.weight.copy_(kernel.reshape(kernel.shape[2], kernel.shape[3]).t()[:, :, None, None])
            self.conv.bias.copy_(weights['bias'])


def tf_same_pad(x, kernel, stride):
    """TensorFlow's 'same' padding: total max((out - 1) s + k - in, 0), the extra pixel at the end."""
    _, _, h, w = x.shape
    def amount(size):
        out = -(-size // stride)
        return max((out - 1) * stride + kernel - size, 0)
    ph, pw = amount(h), amount(w)
    return F.pad(x, (pw // 2, pw - pw // 2, ph // 2, ph - ph // 2))


class WrnPmoe(torch.nn.Module):
    """WRN-pMoE (pmoe's src/models/wide-resnet.ts), CIFAR setting, NCHW, layers named as in tfjs.

    stem conv3x3 -> block1 -> block2 -> BN-ReLU -> conv3x3 stride 2 -> BN-ReLU -> pMoE layer ->
    BN-ReLU -> global average pool -> dense. Blocks are pre-activation: BN-ReLU -> conv (stride s)
    -> BN-ReLU -> conv, plus the block input (a 1x1 stride-s projection of the raw input where the
    shape changes). 'same' padding as TensorFlow's. The pMoE layer: 1x1 patches, k routers take
    their top l positions each, gate = softmax over all n scores read at the chosen ones, 1x1
    experts with bias on the chosen positions, zeros elsewhere.
    """

    CONVS = {  # name: (in, out, kernel, stride)
        'stem_conv': (3, 16, 3, 1), 'block1_conv1': (16, 16, 3, 1), 'block1_conv2': (16, 16, 3, 1),
        'block2_conv1': (16, 32, 3, 2), 'block2_conv2': (32, 32, 3, 1), 'block2_shortcut': (16, 32, 1, 2),
        'block3_conv1': (32, 64, 3, 2),
    }
    BNS = {'block1_pre1_bn': 16, 'block1_pre2_bn': 16, 'block2_pre1_bn': 16, 'block2_pre2_bn': 32,
           'block3_pre1_bn': 32, 'moe_pre_bn': 64, 'final_bn': 64}

    def __init__(self, classes, experts, l, momentum, epsilon, channels=3):
        super().__init__()
        self.k, self.l = experts, l
        self.CONVS = {**self.CONVS, 'stem_conv': (channels, *self.CONVS['stem_conv'][1:])}
        self.convs = torch.nn.ModuleDict({name: torch.nn.Conv2d(i, o, k, s) for name, (i, o, k, s) in self.CONVS.items()})
        # Keras's momentum m keeps m of the old moving value; PyTorch's keeps 1 - m.
        self.bns = torch.nn.ModuleDict({name: torch.nn.BatchNorm2d(c, eps=epsilon, momentum=1 - momentum) for name, c in self.BNS.items()})
        self.router = torch.nn.Parameter(torch.zeros(64, experts))
        self.expert_kernels = torch.nn.Parameter(torch.zeros(experts, 64, 64 // experts))
        self.expert_biases = torch.nn.Parameter(torch.zeros(experts, 64 // experts))
        self.dense = torch.nn.Linear(64, classes)

    def conv(self, name, x):
        _, _, kernel, stride = self.CONVS[name]
        return self.convs[name](tf_same_pad(x, kernel, stride) if kernel > 1 else x)

    def bn_relu(self, name, x):
        return F.relu(self.bns[name](x))

    def block(self, name, x, shortcut):
        out = self.conv(f'{name}_conv1', self.bn_relu(f'{name}_pre1_bn', x))
        out = self.conv(f'{name}_conv2', self.bn_relu(f'{name}_pre2_bn', out))
        return out + (self.conv(f'{name}_shortcut', x) if shortcut else x)

    def moe(self, x):
        b, c, hgt, wid = x.shape
        n = hgt * wid
        patches = x.permute(0, 2, 3, 1).reshape(b, n, c)
        scores = torch.einsum('bnc,ck->bkn', patches, self.router)
        values, idx = scores.topk(self.l, dim=-1)
        gates = torch.exp(values - torch.logsumexp(scores, dim=-1, keepdim=True))
        chosen = torch.gather(patches.unsqueeze(1).expand(b, self.k, n, c), 2, idx.unsqueeze(-1).expand(b, self.k, self.l, c))
        y = (torch.einsum('bklc,kcf->bklf', chosen, self.expert_kernels) + self.expert_biases[None, :, None, :]) * gates.unsqueeze(-1)
        f = y.shape[-1]
        out = torch.zeros(b, self.k, n, f, dtype=x.dtype).scatter(2, idx.unsqueeze(-1).expand(b, self.k, self.l, f), y)
        return out.permute(0, 1, 3, 2).reshape(b, self.k * f, hgt, wid)      # expert-major channels, NCHW

    def prepare(self, x_nhwc):
        return x_nhwc.permute(0, 3, 1, 2).contiguous()

    def forward(self, x):
        x = self.conv('stem_conv', x)
        x = self.block('block1', x, shortcut=False)
        x = self.block('block2', x, shortcut=True)
        x = self.conv('block3_conv1', self.bn_relu('block3_pre1_bn', x))
        x = self.moe(self.bn_relu('moe_pre_bn', x))
        return self.dense(self.bn_relu('final_bn', x).mean(dim=(2, 3)))

    def load(self, weights):
        with torch.no_grad():
            for name, conv in self.convs.items():
                conv.weight.copy_(weights[f'{name}/kernel'].permute(3, 2, 0, 1))   # HWIO -> OIHW
                conv.bias.copy_(weights[f'{name}/bias'])
            for name, bn in self.bns.items():
                bn.weight.copy_(weights[f'{name}/gamma'])
                bn.bias.copy_(weights[f'{name}/beta'])
                bn.running_mean.copy_(weights[f'{name}/moving_mean'])
                bn.running_var.copy_(weights[f'{name}/moving_variance'])
            self.router.copy_(weights['moe/router/kernel'])
            for s in range(self.k):
                self.expert_kernels[s].copy_(weights[f'moe/expert{s}/kernel'].reshape(64, -1))
                self.expert_biases[s].copy_(weights[f'moe/expert{s}/bias'])
            self.dense.weight.copy_(weights['logits/kernel'].t())
            self.dense.bias.copy_(weights['logits/bias'])

    def export(self):
        """Gradients by tfjs weight name, in tfjs layouts."""
        grads = {}
        for name, conv in self.convs.items():
            grads[f'{name}/kernel'] = conv.weight.grad.permute(2, 3, 1, 0)
            grads[f'{name}/bias'] = conv.bias.grad
        for name, bn in self.bns.items():
            grads[f'{name}/gamma'] = bn.weight.grad
            grads[f'{name}/beta'] = bn.bias.grad
        grads['moe/router/kernel'] = self.router.grad
        for s in range(self.k):
            grads[f'moe/expert{s}/kernel'] = self.expert_kernels.grad[s].reshape(1, 1, 64, -1)
            grads[f'moe/expert{s}/bias'] = self.expert_biases.grad[s]
        grads['logits/kernel'] = self.dense.weight.grad.t()
        grads['logits/bias'] = self.dense.bias.grad
        return None, grads
