"""The PyTorch side of `npm run bench`: a long-lived process driven over stdin/stdout, one JSON
object per line each way, so that its start-up and the transfers are never timed.

Run with Debian's python3 (`/usr/bin/python3`, which sees `apt-get install python3-torch`).
Tensors travel as {"shape": [...], "dtype": "float32"|"int32", "b64": little-endian bytes}.

Requests (each answered by one line {"ok": true, ...} or {"ok": false, "error": "..."}):
  hello  {threads, device}      -> sets torch's intra-op threads (default 2) and the device ('cpu' or 'cuda');
                                   torch version, threads, BLAS, device name
  setup  {kind, config, weights, inputs}
         kind 'cnn' | 'pmoe'    a model trained by plain SGD (lr from config) on inputs x, labels
         kind 'wrn-pmoe'        WRN-pMoE (softmax cross-entropy, batch norm in training mode)
         kind 'wrn-pmoe-epoch'  WRN-pMoE, a step is a whole epoch: SGD over the training images (x, labels)
                                in shuffled batches, then the inference-mode evaluation of testX, testLabels
         kind 'patch-moe' | 'dense-conv'   a layer timed forward only, on input x
         kind 'matmul'          the ceiling: torch.matmul of two random [m, k] x [k, n] matrices
  forward                       -> the output of one forward pass (and the loss for models)
  grads                         -> loss and gradients of the trainable weights, in pmoe's layouts
  steps  {n}                    -> per-step times in ms (SGD steps, or forward passes)
  cpu                           -> this process's CPU time in seconds, all threads
  quit
"""
import base64
import json
import re
import sys
import time

import numpy as np

try:
    import torch
except ImportError as error:  # the bench explains how to install it
    print(json.dumps({'ok': False, 'error': f'torch not importable by {sys.executable}: {error}',
                      'noTorch': True}), flush=True)
    sys.exit(0)

import torch.nn.functional as F  # noqa: E402
import models  # noqa: E402  (this directory is on sys.path when run as a script)

THREADS = 2
torch.set_num_threads(THREADS)
DEVICE = torch.device('cpu')


def use_device(name):
    """Puts models, inputs and every tensor the models create on one device (cuda needs torch >= 2.0)."""
    global DEVICE
    DEVICE = torch.device(name)
    if DEVICE.type != 'cpu':
        if not torch.cuda.is_available():
            raise ValueError(f'device {name} asked for, but torch {torch.__version__} sees no CUDA device')
        if not hasattr(torch, 'set_default_device'):
            raise ValueError(f'device {name} needs torch >= 2.0 (torch.set_default_device); this is torch {torch.__version__}')
        torch.set_default_device(DEVICE)
        # float32 as pmoe computes it: cuDNN's convolutions would otherwise run in TF32 (10-bit mantissa)
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cuda.matmul.allow_tf32 = False
    return torch.cuda.get_device_name(DEVICE) if DEVICE.type == 'cuda' else 'cpu'


def settle():
    """Waits for the device's queued work, so that a step's time includes its kernels."""
    if DEVICE.type == 'cuda':
        torch.cuda.synchronize(DEVICE)


def decode(blob):
    dtype = {'float32': np.float32, 'int32': np.int32}[blob.get('dtype', 'float32')]
    array = np.frombuffer(base64.b64decode(blob['b64']), dtype=dtype).reshape(blob['shape'])
    return torch.from_numpy(array.copy()).to(DEVICE)


def encode(tensor):
    array = tensor.detach().contiguous().to(torch.float32).cpu().numpy()
    return {'shape': list(array.shape), 'dtype': 'float32', 'b64': base64.b64encode(array.tobytes()).decode('ascii')}


class Session:
    def __init__(self):
        self.kind = None

    def setup(self, kind, config, weights, inputs):
        self.kind = kind
        self.training = False
        w = {name: decode(blob) for name, blob in (weights or {}).items()}
        x = {name: decode(blob) for name, blob in (inputs or {}).items()}
        self.model = self.opt = None
        if kind == 'cnn':
            self.model = models.TwoLayerCnn(config['n'], config['d'], config['m'], config.get('formulation', 'conv'))
        elif kind == 'pmoe':
            self.model = models.TwoLayerPmoe(config['n'], config['d'], config['k'], config['h'], config['l'],
                                             config['gate'], config.get('routersFrozen', False))
        elif kind in ('wrn-pmoe', 'wrn-pmoe-epoch'):
            self.model = models.WrnPmoe(config.get('classes', 10), config['experts'], config['patchesPerExpert'],
                                        config['momentum'], config['epsilon'], config.get('channels', 3))
        elif kind == 'patch-moe':
            self.model = models.PatchMoeLayer(config['c'], config['k'], config['l'], config['f'])
        elif kind == 'dense-conv':
            self.model = models.DenseConv1x1(config['c'], config['out'])
        elif kind == 'matmul':
            g = torch.Generator().manual_seed(0)
            self.a = torch.rand(config['m'], config['k'], generator=g, device='cpu').to(DEVICE)
            self.b = torch.rand(config['k'], config['n'], generator=g, device='cpu').to(DEVICE)
            return {}
        else:
            raise ValueError(f'unknown kind {kind}')
        if w:
            self.model.load(w)
        self.x = self.model.prepare(x['x']) if hasattr(self.model, 'prepare') else x['x']
        self.training = kind in ('cnn', 'pmoe', 'wrn-pmoe')
        if self.training or kind == 'wrn-pmoe-epoch':
            self.labels = x['labels']
            params = [p for p in self.model.parameters() if p.requires_grad]
            self.opt = torch.optim.SGD(params, lr=config['lr'])
        if kind == 'wrn-pmoe-epoch':
            self.test_x, self.test_labels = self.model.prepare(x['testX']), x['testLabels'].long()
            self.batch, self.eval_batch, self.checked = config['batchSize'], config['evalBatchSize'], config['checkedImages']
        return {'formulation': getattr(self.model, 'formulation', None)}

    def epoch(self):
        """One epoch as pmoe's trainImageModel runs it: shuffled batches, SGD (reading each batch's loss
        and hits back, as it does), then the test evaluation."""
        self.model.train()
        order = torch.randperm(self.x.shape[0])
        train_loss, train_correct = 0.0, 0
        for start in range(0, len(order), self.batch):
            rows = order[start:start + self.batch]
            labels = self.labels[rows].long()
            self.opt.zero_grad(set_to_none=True)
            logits = self.model(self.x[rows])
            loss = F.cross_entropy(logits, labels)
            loss.backward()
            self.opt.step()
            train_loss += float(loss) * len(rows)
            train_correct += int((logits.argmax(dim=1) == labels).sum())
        self.model.eval()
        correct, loss = 0, 0.0
        with torch.no_grad():
            for start in range(0, self.test_x.shape[0], self.eval_batch):
                logits = self.model(self.test_x[start:start + self.eval_batch])
                labels = self.test_labels[start:start + self.eval_batch]
                loss += float(F.cross_entropy(logits, labels, reduction='sum'))
                correct += int((logits.argmax(dim=1) == labels).sum())
        self.model.train()
        return loss, correct

    def loss_of(self, out):
        if self.kind == 'wrn-pmoe':
            return F.cross_entropy(out, self.labels.long())
        return models.logistic_loss(out, self.labels)

    def loss(self):
        return self.loss_of(self.model(self.x))

    def one_step(self):
        if self.kind == 'matmul':
            torch.matmul(self.a, self.b)
        elif self.kind == 'wrn-pmoe-epoch':
            self.epoch()
        elif self.training:
            self.opt.zero_grad(set_to_none=True)
            loss = self.loss()
            loss.backward()
            self.opt.step()
        else:
            with torch.no_grad():
                self.model(self.x)

    def steps(self, n):
        times = []
        for _ in range(n):
            settle()
            start = time.perf_counter()
            self.one_step()
            settle()
            times.append((time.perf_counter() - start) * 1e3)
        answer = {'timesMs': times}
        if self.training:
            with torch.no_grad():
                answer['loss'] = float(self.loss())
        return answer

    def forward(self):
        if self.kind == 'wrn-pmoe-epoch':  # inference-mode logits of the first test images
            self.model.eval()
            with torch.no_grad():
                out = self.model(self.test_x[:self.checked])
            self.model.train()
            return {'output': encode(out)}
        with torch.no_grad():
            out = self.model(self.x)
            if self.kind == 'dense-conv':
                out = out.permute(0, 2, 3, 1)            # back to channels last, as tfjs
            answer = {'output': encode(out)}
            if self.training:
                answer['loss'] = float(self.loss_of(out))
        return answer

    def grads(self):
        self.model.zero_grad(set_to_none=True)
        loss = self.loss()
        loss.backward()
        _, grads = self.model.export()
        return {'loss': float(loss), 'grads': {name: encode(g) for name, g in grads.items()}}


def main():
    session = Session()
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            request = json.loads(line)
            cmd = request.get('cmd')
            if cmd == 'hello':
                torch.set_num_threads(int(request.get('threads', THREADS)))
                device = use_device(request.get('device', 'cpu'))
                blas = re.search(r'BLAS_INFO=(\w+)', torch.__config__.show())
                answer = {'torch': torch.__version__, 'threads': torch.get_num_threads(), 'python': sys.version.split()[0],
                          'blas': blas.group(1) if blas else 'unknown', 'device': device}
            elif cmd == 'setup':
                answer = session.setup(request['kind'], request.get('config', {}), request.get('weights'), request.get('inputs'))
            elif cmd == 'cpu':
                answer = {'seconds': time.process_time()}
            elif cmd == 'steps':
                answer = session.steps(int(request['n']))
            elif cmd == 'forward':
                answer = session.forward()
            elif cmd == 'grads':
                answer = session.grads()
            elif cmd == 'quit':
                print(json.dumps({'ok': True}), flush=True)
                return
            else:
                raise ValueError(f'unknown command {cmd}')
            print(json.dumps({'ok': True, **answer}), flush=True)
        except Exception as error:  # report, keep serving
            print(json.dumps({'ok': False, 'error': f'{type(error).__name__}: {error}'}), flush=True)


if __name__ == '__main__':
    main()
