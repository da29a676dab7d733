"""Lab 02's single-TODO mutants: answers a student could plausibly write (see ``__init__``)."""

LAB = "02_conv_arithmetic.ipynb"

MUTANTS = [
    # --- conv_out, conv_transpose_out, pool_out
    ("conv_out without the dilation", '''
def conv_out(n, k, s=1, p=0, d=1):
    return (n + 2 * p - (k - 1) - 1) // s + 1
'''),
    ("conv_out rounded instead of floored", '''
def conv_out(n, k, s=1, p=0, d=1):
    return round((n + 2 * p - d * (k - 1) - 1) / s) + 1
'''),
    ("transposed size without output_padding", '''
def conv_transpose_out(n, k, s=1, p=0, output_padding=0, d=1):
    return (n - 1) * s - 2 * p + d * (k - 1) + 1
'''),
    ("pooling with stride 1 by default", '''
def pool_out(n, k, s=None, p=0, ceil_mode=False):
    s = 1 if s is None else s
    room = n + 2 * p - k
    out = (-(-room // s) if ceil_mode else room // s) + 1
    if ceil_mode and (out - 1) * s >= n + p:
        out -= 1
    return out
'''),
    ("ceil_mode keeping a window that starts in the padding", '''
def pool_out(n, k, s=None, p=0, ceil_mode=False):
    s = k if s is None else s
    room = n + 2 * p - k
    return (-(-room // s) if ceil_mode else room // s) + 1
'''),
    # --- my_max_unpool2d
    ("unpooled with the flat index read as (row, col) of the pooled map", '''
def my_max_unpool2d(x, indices, output_size):
    n, c, h, w = x.shape
    height, width = output_size
    out = x.new_zeros(n, c, height, width)
    rows, cols = indices // w, indices % w
    for b in range(n):
        for ch in range(c):
            out[b, ch, rows[b, ch].clamp(max=height - 1), cols[b, ch]] = x[b, ch]
    return out
'''),
    ("unpooled into a (W, H) map", '''
def my_max_unpool2d(x, indices, output_size):
    n, c = x.shape[:2]
    height, width = output_size
    out = x.new_zeros(n, c, height * width)
    out.scatter_(2, indices.reshape(n, c, -1), x.reshape(n, c, -1))
    return out.reshape(n, c, width, height)
'''),
    # --- my_conv_transpose2d
    ("stamps assigned, not added (overlaps lost)", '''
def my_conv_transpose2d(x, w, stride):
    height, width = x.shape[-2:]
    k = w.shape[-1]
    out = x.new_zeros(1, 1, (height - 1) * stride + k, (width - 1) * stride + k)
    for i in range(height):
        for j in range(width):
            window = (0, 0, slice(i * stride, i * stride + k), slice(j * stride, j * stride + k))
            out[window] = x[0, 0, i, j] * w[0, 0]
    return out
'''),
    ("kernel flipped (a convolution's adjoint taken as a correlation)", '''
def my_conv_transpose2d(x, w, stride):
    height, width = x.shape[-2:]
    k = w.shape[-1]
    out = x.new_zeros(1, 1, (height - 1) * stride + k, (width - 1) * stride + k)
    kernel = w[0, 0].flip(0, 1)
    for i in range(height):
        for j in range(width):
            window = (0, 0, slice(i * stride, i * stride + k), slice(j * stride, j * stride + k))
            out[window] += x[0, 0, i, j] * kernel
    return out
'''),
    # --- receptive_field_size
    ("the stride applied before the layer's own contribution", '''
def receptive_field_size(layers):
    size, jump = 1, 1
    for k, s, d in layers:
        jump *= s
        size += (k - 1) * d * jump
    return size
'''),
    ("dilation ignored", '''
def receptive_field_size(layers):
    size, jump = 1, 1
    for k, s, d in layers:
        size += (k - 1) * jump
        jump *= s
    return size
'''),
    # --- box_iou_xyxy, yolo_channels, make_yolo_head
    ("box IoU without clamping the overlap", '''
def box_iou_xyxy(a, b):
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    top_left = torch.maximum(a[:, None, :2], b[None, :, :2])
    wh = torch.minimum(a[:, None, 2:], b[None, :, 2:]) - top_left
    inter = wh[..., 0] * wh[..., 1]
    return inter / (area_a[:, None] + area_b[None, :] - inter)
'''),
    ("box IoU paired row by row instead of every pair", '''
def box_iou_xyxy(a, b):
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    wh = (torch.minimum(a[:, 2:], b[:, 2:]) - torch.maximum(a[:, :2], b[:, :2])).clamp(min=0)
    inter = wh[:, 0] * wh[:, 1]
    return (inter / (area_a + area_b - inter))[:, None]
'''),
    ("class scores per anchor", '''
def yolo_channels(num_anchors, num_classes):
    return num_anchors * (4 + 1 + num_classes)
'''),
    ("YOLO head with a 3x3 kernel", '''
def make_yolo_head(in_channels, num_anchors, num_classes):
    return nn.Conv2d(in_channels, yolo_channels(num_anchors, num_classes), kernel_size=3, padding=1)
'''),
    # --- one slip per item of each TODO's contract, written before its check
    ("conv_out as a NumPy float (np.floor)", '''
def conv_out(n, k, s=1, p=0, d=1):
    import numpy as np
    return np.floor((n + 2 * p - d * (k - 1) - 1) / s) + 1
'''),
    ("pool_out as a float (true division, then floor or ceil of floats)", '''
def pool_out(n, k, s=None, p=0, ceil_mode=False):
    import numpy as np
    s = k if s is None else s
    out = (np.ceil if ceil_mode else np.floor)((n + 2 * p - k) / s) + 1
    if ceil_mode and (out - 1) * s >= n + p:
        out -= 1
    return out
'''),
    ("unpooled into a float32 map whatever x's dtype", '''
def my_max_unpool2d(x, indices, output_size):
    n, c = x.shape[:2]
    height, width = output_size
    out = torch.zeros(n, c, height * width)
    out.scatter_(2, indices.reshape(n, c, -1), x.reshape(n, c, -1).float())
    return out.reshape(n, c, height, width)
'''),
    ("indices offset in place through a view (the caller's indices change)", '''
def my_max_unpool2d(x, indices, output_size):
    n, c = x.shape[:2]
    height, width = output_size
    flat = indices.view(n * c, -1)
    flat += torch.arange(n * c)[:, None] * (height * width)  # one index into all the planes
    out = x.new_zeros(n * c * height * width)
    out[flat.reshape(-1)] = x.reshape(-1)
    return out.reshape(n, c, height, width)
'''),
    ("transposed convolution into a float32 map whatever x's dtype", '''
def my_conv_transpose2d(x, w, stride):
    height, width = x.shape[-2:]
    k = w.shape[-1]
    out = torch.zeros(1, 1, (height - 1) * stride + k, (width - 1) * stride + k)
    for i in range(height):
        for j in range(width):
            stamp = x[0, 0, i, j] * w[0, 0]
            out[0, 0, i * stride:i * stride + k, j * stride:j * stride + k] += stamp
    return out
'''),
    ("receptive field that pops the caller's layers", '''
def receptive_field_size(layers):
    size, jump = 1, 1
    while layers:
        k, s, d = layers.pop(0)
        size += (k - 1) * d * jump
        jump *= s
    return size
'''),
    ("box IoU rows stacked (no box: crashes)", '''
def box_iou_xyxy(a, b):
    rows = []
    for box in a:
        w = (torch.minimum(box[2], b[:, 2]) - torch.maximum(box[0], b[:, 0])).clamp(min=0)
        h = (torch.minimum(box[3], b[:, 3]) - torch.maximum(box[1], b[:, 1])).clamp(min=0)
        inter = w * h
        area = (box[2] - box[0]) * (box[3] - box[1])
        rows.append(inter / (area + (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1]) - inter))
    return torch.stack(rows)
'''),
    # --- second pass: the contract items still without a slip (padding on both sides,
    # the transposed size's dilation, ceil_mode, N and C above 1, the output size as given,
    # non-square inputs, the empty stack, a Python int, in_channels honoured)
    ("conv_out with the padding on one side only", '''
def conv_out(n, k, s=1, p=0, d=1):
    return (n + p - d * (k - 1) - 1) // s + 1
'''),
    ("transposed size without the dilation", '''
def conv_transpose_out(n, k, s=1, p=0, output_padding=0, d=1):
    return (n - 1) * s - 2 * p + (k - 1) + output_padding + 1
'''),
    ("pool_out ignoring ceil_mode (always the floor)", '''
def pool_out(n, k, s=None, p=0, ceil_mode=False):
    s = k if s is None else s
    return (n + 2 * p - k) // s + 1
'''),
    ("unpooled through one flat plane (right for N = C = 1 only)", '''
def my_max_unpool2d(x, indices, output_size):
    n, c = x.shape[:2]
    height, width = output_size
    out = x.new_zeros(height * width)
    out[indices.reshape(-1)] = x.reshape(-1)
    return out.reshape(1, 1, height, width).expand(n, c, height, width).clone()
'''),
    ("unpooled into twice the pooled size, not output_size", '''
def my_max_unpool2d(x, indices, output_size):
    n, c, h, w = x.shape
    height, width = 2 * h, 2 * w  # a 2 x 2 pooling halved the map
    out = x.new_zeros(n, c, height * width)
    out.scatter_(2, indices.reshape(n, c, -1), x.reshape(n, c, -1))
    return out.reshape(n, c, height, width)
'''),
    ("transposed convolution into a square map sized by H", '''
def my_conv_transpose2d(x, w, stride):
    height, width = x.shape[-2:]
    k = w.shape[-1]
    side = (height - 1) * stride + k
    out = x.new_zeros(1, 1, side, max(side, (width - 1) * stride + k))
    for i in range(height):
        for j in range(width):
            stamp = x[0, 0, i, j] * w[0, 0]
            out[0, 0, i * stride:i * stride + k, j * stride:j * stride + k] += stamp
    return out[..., :side]
'''),
    ("receptive field started from the first layer's kernel (no layer: crashes)", '''
def receptive_field_size(layers):
    k0, s0, d0 = layers[0]
    size, jump = d0 * (k0 - 1) + 1, s0
    for k, s, d in layers[1:]:
        size += (k - 1) * d * jump
        jump *= s
    return size
'''),
    ("yolo_channels as a float (5.0 numbers per anchor)", '''
def yolo_channels(num_anchors, num_classes):
    return num_anchors * 5.0 + num_classes
'''),
    ("YOLO head built for 64 input channels whatever in_channels", '''
def make_yolo_head(in_channels, num_anchors, num_classes):
    return nn.Conv2d(64, yolo_channels(num_anchors, num_classes), kernel_size=1)
'''),
]
