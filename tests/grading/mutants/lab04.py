"""Lab 04's single-TODO mutants: answers a student could plausibly write (see ``__init__``)."""

LAB = "04_unet.ipynb"

MUTANTS = [
    # --- my_center_crop
    ("crop from the top-left corner", '''
def my_center_crop(x, size):
    h, w = size
    if h > x.shape[-2] or w > x.shape[-1]:
        raise ValueError("too small")
    return x[..., :h, :w]
'''),
    ("no ValueError for a crop larger than the map", '''
def my_center_crop(x, size):
    height, width = x.shape[-2:]
    h, w = size
    top, left = (height - h) // 2, (width - w) // 2
    return x[..., top:top + h, left:left + w]
'''),
    ("odd margins rounded up", '''
def my_center_crop(x, size):
    height, width = x.shape[-2:]
    h, w = size
    if h > height or w > width:
        raise ValueError("too small")
    top, left = (height - h + 1) // 2, (width - w + 1) // 2
    return x[..., top:top + h, left:left + w]
'''),
    # --- DecoderBlock
    ("concatenation [up, skip] instead of [skip, up]", '''
class DecoderBlock(nn.Module):
    def __init__(self, in_channels, out_channels, *, padding=True, batch_norm=True):
        super().__init__()
        self.up = nn.ConvTranspose2d(in_channels, out_channels, kernel_size=2, stride=2)
        pad = 1 if padding else 0
        layers = []
        for c_in in (2 * out_channels, out_channels):
            layers.append(nn.Conv2d(c_in, out_channels, 3, padding=pad, bias=not batch_norm))
            if batch_norm:
                layers.append(nn.BatchNorm2d(out_channels))
            layers.append(nn.ReLU())
        self.convs = nn.Sequential(*layers)

    def forward(self, x, skip):
        x = self.up(x)
        skip = my_center_crop(skip, x.shape[-2:])
        return self.convs(torch.cat([x, skip], dim=1))
'''),
    ("convolutions with a bias next to batch norm", '''
class DecoderBlock(nn.Module):
    def __init__(self, in_channels, out_channels, *, padding=True, batch_norm=True):
        super().__init__()
        self.up = nn.ConvTranspose2d(in_channels, out_channels, kernel_size=2, stride=2)
        pad = 1 if padding else 0
        layers = []
        for c_in in (2 * out_channels, out_channels):
            layers.append(nn.Conv2d(c_in, out_channels, 3, padding=pad))
            if batch_norm:
                layers.append(nn.BatchNorm2d(out_channels))
            layers.append(nn.ReLU())
        self.convs = nn.Sequential(*layers)

    def forward(self, x, skip):
        x = self.up(x)
        skip = my_center_crop(skip, x.shape[-2:])
        return self.convs(torch.cat([skip, x], dim=1))
'''),
    ("skip not cropped (works only when padded)", '''
class DecoderBlock(nn.Module):
    def __init__(self, in_channels, out_channels, *, padding=True, batch_norm=True):
        super().__init__()
        self.up = nn.ConvTranspose2d(in_channels, out_channels, kernel_size=2, stride=2)
        pad = 1 if padding else 0
        layers = []
        for c_in in (2 * out_channels, out_channels):
            layers.append(nn.Conv2d(c_in, out_channels, 3, padding=pad, bias=not batch_norm))
            if batch_norm:
                layers.append(nn.BatchNorm2d(out_channels))
            layers.append(nn.ReLU())
        self.convs = nn.Sequential(*layers)

    def forward(self, x, skip):
        return self.convs(torch.cat([skip, self.up(x)], dim=1))
'''),
    ("ReLU before batch norm", '''
class DecoderBlock(nn.Module):
    def __init__(self, in_channels, out_channels, *, padding=True, batch_norm=True):
        super().__init__()
        self.up = nn.ConvTranspose2d(in_channels, out_channels, kernel_size=2, stride=2)
        pad = 1 if padding else 0
        layers = []
        for c_in in (2 * out_channels, out_channels):
            layers.append(nn.Conv2d(c_in, out_channels, 3, padding=pad, bias=not batch_norm))
            layers.append(nn.ReLU())
            if batch_norm:
                layers.append(nn.BatchNorm2d(out_channels))
        self.convs = nn.Sequential(*layers)

    def forward(self, x, skip):
        x = self.up(x)
        skip = my_center_crop(skip, x.shape[-2:])
        return self.convs(torch.cat([skip, x], dim=1))
'''),
    # --- my_unet
    ("decoder blocks in the shallowest-first order", '''
def my_unet(*, in_channels=3, num_classes=2, depth=4, width=64, padding=True, batch_norm=True):
    model = get_model("unet", in_channels=in_channels, num_classes=num_classes, depth=depth,
                      width=width, padding=padding, batch_norm=batch_norm)
    channels = [width * 2**i for i in range(depth + 1)]
    model.ups = nn.ModuleList(DecoderBlock(channels[i + 1], channels[i], padding=padding,
                                           batch_norm=batch_norm) for i in range(depth))
    return model
'''),
    ("padding not passed on to the blocks", '''
def my_unet(*, in_channels=3, num_classes=2, depth=4, width=64, padding=True, batch_norm=True):
    model = get_model("unet", in_channels=in_channels, num_classes=num_classes, depth=depth,
                      width=width, padding=padding, batch_norm=batch_norm)
    channels = [width * 2**i for i in range(depth + 1)]
    model.ups = nn.ModuleList(DecoderBlock(channels[i + 1], channels[i], batch_norm=batch_norm)
                              for i in reversed(range(depth)))
    return model
'''),
    ("batch_norm not passed on to the blocks", '''
def my_unet(*, in_channels=3, num_classes=2, depth=4, width=64, padding=True, batch_norm=True):
    model = get_model("unet", in_channels=in_channels, num_classes=num_classes, depth=depth,
                      width=width, padding=padding, batch_norm=batch_norm)
    channels = [width * 2**i for i in range(depth + 1)]
    model.ups = nn.ModuleList(DecoderBlock(channels[i + 1], channels[i], padding=padding)
                              for i in reversed(range(depth)))
    return model
'''),
    # --- separate_touching
    ("only one pixel of each contact removed", '''
def separate_touching(instances):
    labels = instances.clone()
    across = (labels[:, :-1] > 0) & (labels[:, 1:] > 0) & (labels[:, :-1] != labels[:, 1:])
    down = (labels[:-1, :] > 0) & (labels[1:, :] > 0) & (labels[:-1, :] != labels[1:, :])
    touching = torch.zeros_like(labels, dtype=torch.bool)
    touching[:, :-1] |= across
    touching[:-1, :] |= down
    return labels.masked_fill(touching, 0)
'''),
    ("nuclei next to the background cut too (0 taken for a nucleus)", '''
def separate_touching(instances):
    labels = instances
    across = (labels[:, :-1] != labels[:, 1:])
    down = (labels[:-1, :] != labels[1:, :])
    touching = torch.zeros_like(labels, dtype=torch.bool)
    touching[:, :-1] |= across
    touching[:, 1:] |= across
    touching[:-1, :] |= down
    touching[1:, :] |= down
    return labels.masked_fill(touching & (labels > 0), 0)
'''),
    ("corners count as contacts (8-neighbours)", '''
def separate_touching(instances):
    labels = instances.numpy()
    out = labels.copy()
    height, width = labels.shape
    for r in range(height):
        for c in range(width):
            if labels[r, c] == 0:
                continue
            around = labels[max(r - 1, 0):r + 2, max(c - 1, 0):c + 2]
            if ((around > 0) & (around != labels[r, c])).any():
                out[r, c] = 0
    return torch.from_numpy(out)
'''),
    ("the input changed in place", '''
def separate_touching(instances):
    labels = instances
    across = (labels[:, :-1] > 0) & (labels[:, 1:] > 0) & (labels[:, :-1] != labels[:, 1:])
    down = (labels[:-1, :] > 0) & (labels[1:, :] > 0) & (labels[:-1, :] != labels[1:, :])
    touching = torch.zeros_like(labels, dtype=torch.bool)
    touching[:, :-1] |= across
    touching[:, 1:] |= across
    touching[:-1, :] |= down
    touching[1:, :] |= down
    labels[touching] = 0
    return labels
'''),
    # --- my_weight_map
    ("K = 2 classes always", '''
def my_weight_map(instances, w0=10.0, sigma=5.0):
    labels = instances.numpy()
    foreground = labels > 0
    n_fg = int(foreground.sum())
    n_bg = labels.size - n_fg
    w_fg = labels.size / (2 * n_fg) if n_fg else 0.0
    w_bg = labels.size / (2 * n_bg) if n_bg else 0.0
    weight = np.where(foreground, w_fg, w_bg)
    ids = np.unique(labels[foreground])
    if len(ids) >= 2:
        distances = np.sort(np.stack([ndimage.distance_transform_edt(labels != k) for k in ids]),
                            axis=0)
        border = w0 * np.exp(-((distances[0] + distances[1]) ** 2) / (2 * sigma**2))
        weight = weight + np.where(foreground, 0.0, border)
    return torch.from_numpy(weight).float()
'''),
    ("nucleus ids from range(1, N + 1)", '''
def my_weight_map(instances, w0=10.0, sigma=5.0):
    labels = instances.numpy()
    foreground = labels > 0
    n_fg = int(foreground.sum())
    n_bg = labels.size - n_fg
    present = (n_fg > 0) + (n_bg > 0)
    w_fg = labels.size / (present * n_fg) if n_fg else 0.0
    w_bg = labels.size / (present * n_bg) if n_bg else 0.0
    weight = np.where(foreground, w_fg, w_bg)
    ids = range(1, len(np.unique(labels[foreground])) + 1)
    if len(ids) >= 2:
        distances = np.sort(np.stack([ndimage.distance_transform_edt(labels != k) for k in ids]),
                            axis=0)
        border = w0 * np.exp(-((distances[0] + distances[1]) ** 2) / (2 * sigma**2))
        weight = weight + np.where(foreground, 0.0, border)
    return torch.from_numpy(weight).float()
'''),
    ("border term on the nuclei too", '''
def my_weight_map(instances, w0=10.0, sigma=5.0):
    labels = instances.numpy()
    foreground = labels > 0
    n_fg = int(foreground.sum())
    n_bg = labels.size - n_fg
    present = (n_fg > 0) + (n_bg > 0)
    w_fg = labels.size / (present * n_fg) if n_fg else 0.0
    w_bg = labels.size / (present * n_bg) if n_bg else 0.0
    weight = np.where(foreground, w_fg, w_bg)
    ids = np.unique(labels[foreground])
    if len(ids) >= 2:
        distances = np.sort(np.stack([ndimage.distance_transform_edt(labels != k) for k in ids]),
                            axis=0)
        weight = weight + w0 * np.exp(-((distances[0] + distances[1]) ** 2) / (2 * sigma**2))
    return torch.from_numpy(weight).float()
'''),
    ("d1 + d2 taken as twice the nearest distance", '''
def my_weight_map(instances, w0=10.0, sigma=5.0):
    labels = instances.numpy()
    foreground = labels > 0
    n_fg = int(foreground.sum())
    n_bg = labels.size - n_fg
    present = (n_fg > 0) + (n_bg > 0)
    w_fg = labels.size / (present * n_fg) if n_fg else 0.0
    w_bg = labels.size / (present * n_bg) if n_bg else 0.0
    weight = np.where(foreground, w_fg, w_bg)
    ids = np.unique(labels[foreground])
    if len(ids) >= 2:
        nearest = ndimage.distance_transform_edt(labels == 0)
        border = w0 * np.exp(-((2 * nearest) ** 2) / (2 * sigma**2))
        weight = weight + np.where(foreground, 0.0, border)
    return torch.from_numpy(weight).float()
'''),
    # --- one slip per item of each TODO's contract, written before its check
    ("margins rounded half to even (Python's round, as torchvision)", '''
def my_center_crop(x, size):
    height, width = x.shape[-2:]
    h, w = size
    if h > height or w > width:
        raise ValueError(f"cannot crop a map of size {(height, width)} to {(h, w)}")
    top, left = round((height - h) / 2), round((width - w) / 2)
    return x[..., top:top + h, left:left + w]
'''),
    ('up-convolution to in_channels // 2 (right only when in_channels = 2 out_channels)', '''
class DecoderBlock(nn.Module):
    def __init__(self, in_channels, out_channels, *, padding=True, batch_norm=True):
        super().__init__()
        self.up = nn.ConvTranspose2d(in_channels, in_channels // 2, kernel_size=2, stride=2)
        pad = 1 if padding else 0
        layers = []
        for c_in in (2 * out_channels, out_channels):
            layers.append(nn.Conv2d(c_in, out_channels, 3, padding=pad, bias=not batch_norm))
            if batch_norm:
                layers.append(nn.BatchNorm2d(out_channels))
            layers.append(nn.ReLU())
        self.convs = nn.Sequential(*layers)

    def forward(self, x, skip):
        x = self.up(x)
        skip = my_center_crop(skip, x.shape[-2:])
        return self.convs(torch.cat([skip, x], dim=1))
'''),
    ('first convolution from in_channels (right only when in_channels = 2 out_channels)', '''
class DecoderBlock(nn.Module):
    def __init__(self, in_channels, out_channels, *, padding=True, batch_norm=True):
        super().__init__()
        self.up = nn.ConvTranspose2d(in_channels, out_channels, kernel_size=2, stride=2)
        pad = 1 if padding else 0
        layers = []
        for c_in in (in_channels, out_channels):
            layers.append(nn.Conv2d(c_in, out_channels, 3, padding=pad, bias=not batch_norm))
            if batch_norm:
                layers.append(nn.BatchNorm2d(out_channels))
            layers.append(nn.ReLU())
        self.convs = nn.Sequential(*layers)

    def forward(self, x, skip):
        x = self.up(x)
        skip = my_center_crop(skip, x.shape[-2:])
        return self.convs(torch.cat([skip, x], dim=1))
'''),
    ("in_channels not passed on to the library's U-Net", '''
def my_unet(*, in_channels=3, num_classes=2, depth=4, width=64, padding=True, batch_norm=True):
    model = get_model("unet", num_classes=num_classes, depth=depth,
                      width=width, padding=padding, batch_norm=batch_norm)
    channels = [width * 2**i for i in range(depth + 1)]
    model.ups = nn.ModuleList(DecoderBlock(channels[i + 1], channels[i], padding=padding,
                                           batch_norm=batch_norm) for i in reversed(range(depth)))
    return model
'''),
    ("weight map that overwrites the caller's labels through .numpy()", '''
def my_weight_map(instances, w0=10.0, sigma=5.0):
    labels = instances.numpy()
    ids = np.unique(labels[labels > 0])
    distances = [ndimage.distance_transform_edt(labels != k) for k in ids]
    labels[labels > 0] = 1  # the foreground mask, in place: .numpy() shares the caller's memory
    foreground = labels == 1
    n_fg = int(foreground.sum())
    n_bg = labels.size - n_fg
    present = (n_fg > 0) + (n_bg > 0)
    w_fg = labels.size / (present * n_fg) if n_fg else 0.0
    w_bg = labels.size / (present * n_bg) if n_bg else 0.0
    weight = np.where(foreground, w_fg, w_bg)
    if len(ids) >= 2:
        distances = np.sort(np.stack(distances), axis=0)
        border = w0 * np.exp(-((distances[0] + distances[1]) ** 2) / (2 * sigma**2))
        weight = weight + np.where(foreground, 0.0, border)
    return torch.from_numpy(weight).float()
'''),
]

# second round: a slip for each contract item still without one
_SECOND_ROUND = [
    ("crop margins of H and W swapped (right only for square maps)", '''
def my_center_crop(x, size):
    height, width = x.shape[-2:]
    h, w = size
    if h > height or w > width:
        raise ValueError(f"cannot crop a map of size {(height, width)} to {(h, w)}")
    top, left = (width - w) // 2, (height - h) // 2
    return x[..., top:top + h, left:left + w]
'''),
    ("no ValueError when only the width is too large", '''
def my_center_crop(x, size):
    height, width = x.shape[-2:]
    h, w = size
    if h > height:
        raise ValueError(f"cannot crop a map of size {(height, width)} to {(h, w)}")
    top, left = (height - h) // 2, (width - w) // 2
    return x[..., top:top + h, left:left + w]
'''),
    ("skip cropped to a square of the up-sampled width", '''
class DecoderBlock(nn.Module):
    def __init__(self, in_channels, out_channels, *, padding=True, batch_norm=True):
        super().__init__()
        self.up = nn.ConvTranspose2d(in_channels, out_channels, kernel_size=2, stride=2)
        pad = 1 if padding else 0
        layers = []
        for c_in in (2 * out_channels, out_channels):
            layers.append(nn.Conv2d(c_in, out_channels, 3, padding=pad, bias=not batch_norm))
            if batch_norm:
                layers.append(nn.BatchNorm2d(out_channels))
            layers.append(nn.ReLU())
        self.convs = nn.Sequential(*layers)

    def forward(self, x, skip):
        x = self.up(x)
        side = x.shape[-1]
        skip = my_center_crop(skip, (side, side))
        x = torch.cat([skip, x], dim=1)
        return self.convs(x)
'''),
    ("3x3 convolutions always padded (padding ignored)", '''
class DecoderBlock(nn.Module):
    def __init__(self, in_channels, out_channels, *, padding=True, batch_norm=True):
        super().__init__()
        self.up = nn.ConvTranspose2d(in_channels, out_channels, kernel_size=2, stride=2)
        layers = []
        for c_in in (2 * out_channels, out_channels):
            layers.append(nn.Conv2d(c_in, out_channels, 3, padding=1, bias=not batch_norm))
            if batch_norm:
                layers.append(nn.BatchNorm2d(out_channels))
            layers.append(nn.ReLU())
        self.convs = nn.Sequential(*layers)

    def forward(self, x, skip):
        x = self.up(x)
        skip = my_center_crop(skip, x.shape[-2:])
        x = torch.cat([skip, x], dim=1)
        return self.convs(x)
'''),
    ("num_classes not passed on to the library's U-Net", '''
def my_unet(*, in_channels=3, num_classes=2, depth=4, width=64, padding=True, batch_norm=True):
    model = get_model("unet", in_channels=in_channels, depth=depth,
                      width=width, padding=padding, batch_norm=batch_norm)
    channels = [width * 2**i for i in range(depth + 1)]
    model.ups = nn.ModuleList(DecoderBlock(channels[i + 1], channels[i], padding=padding,
                                           batch_norm=batch_norm) for i in reversed(range(depth)))
    return model
'''),
    ("decoder blocks built for width 64 whatever width", '''
def my_unet(*, in_channels=3, num_classes=2, depth=4, width=64, padding=True, batch_norm=True):
    model = get_model("unet", in_channels=in_channels, num_classes=num_classes, depth=depth,
                      width=width, padding=padding, batch_norm=batch_norm)
    channels = [64 * 2**i for i in range(depth + 1)]
    model.ups = nn.ModuleList(DecoderBlock(channels[i + 1], channels[i], padding=padding,
                                           batch_norm=batch_norm) for i in reversed(range(depth)))
    return model
'''),
    ("four decoder blocks whatever depth", '''
def my_unet(*, in_channels=3, num_classes=2, depth=4, width=64, padding=True, batch_norm=True):
    model = get_model("unet", in_channels=in_channels, num_classes=num_classes, depth=depth,
                      width=width, padding=padding, batch_norm=batch_norm)
    channels = [width * 2**i for i in range(5)]
    model.ups = nn.ModuleList(DecoderBlock(channels[i + 1], channels[i], padding=padding,
                                           batch_norm=batch_norm) for i in reversed(range(4)))
    return model
'''),
    ("separated labels returned as int64 whatever the input's dtype", '''
def separate_touching(instances):
    labels = instances.long()
    across = (labels[:, :-1] > 0) & (labels[:, 1:] > 0) & (labels[:, :-1] != labels[:, 1:])
    down = (labels[:-1, :] > 0) & (labels[1:, :] > 0) & (labels[:-1, :] != labels[1:, :])
    touching = torch.zeros_like(labels, dtype=torch.bool)
    touching[:, :-1] |= across
    touching[:, 1:] |= across
    touching[:-1, :] |= down
    touching[1:, :] |= down
    return labels.masked_fill(touching, 0)
'''),
    ("separated labels that are the input itself when nothing touches", '''
def separate_touching(instances):
    labels = instances
    across = (labels[:, :-1] > 0) & (labels[:, 1:] > 0) & (labels[:, :-1] != labels[:, 1:])
    down = (labels[:-1, :] > 0) & (labels[1:, :] > 0) & (labels[:-1, :] != labels[1:, :])
    touching = torch.zeros_like(labels, dtype=torch.bool)
    touching[:, :-1] |= across
    touching[:, 1:] |= across
    touching[:-1, :] |= down
    touching[1:, :] |= down
    if not touching.any():
        return labels
    return labels.masked_fill(touching, 0)
'''),
]
_WM = '''
def my_weight_map(instances, w0=10.0, sigma=5.0):
    labels = instances.numpy()
    foreground = labels > 0
    n_fg = int(foreground.sum())
    n_bg = labels.size - n_fg
    present = (n_fg > 0) + (n_bg > 0)
    w_fg = labels.size / (present * n_fg) if n_fg else 0.0
    w_bg = labels.size / (present * n_bg) if n_bg else 0.0
    weight = np.where(foreground, w_fg, w_bg)
    ids = np.unique(labels[foreground])
    if MANY:
        distances = [ndimage.distance_transform_edt(labels != k) for k in ids]
        distances = np.sort(np.stack(distances), axis=0)
        d1, d2 = distances[0], distances[TWO]
        border = W0 * np.exp(-((d1 + d2) ** 2) / (2 * SIGMA**2))
        weight = weight + np.where(foreground, 0.0, border)
    return torch.from_numpy(weight).RESULT()
'''
def _wm(many="len(ids) >= 2", two="1", w0="w0", sigma="sigma", result="float"):
    return (_WM.replace("MANY", many).replace("TWO", two).replace("W0", w0)
            .replace("SIGMA", sigma).replace("RESULT", result))
_SECOND_ROUND += [
    ("weight map with sigma fixed at 5", _wm(sigma="5.0")),
    ("weight map with w0 fixed at 10", _wm(w0="10.0")),
    ("weight map returned in float64", _wm(result="double")),
    ("weight map with a border term around a single nucleus (d2 taken as d1)",
     _wm(many="len(ids) >= 1", two="min(1, len(ids) - 1)")),
]
_SECOND_ROUND += [
    ("decoder blocks kept in a plain Python list", '''
def my_unet(*, in_channels=3, num_classes=2, depth=4, width=64, padding=True, batch_norm=True):
    model = get_model("unet", in_channels=in_channels, num_classes=num_classes, depth=depth,
                      width=width, padding=padding, batch_norm=batch_norm)
    channels = [width * 2**i for i in range(depth + 1)]
    blocks = [DecoderBlock(channels[i + 1], channels[i], padding=padding, batch_norm=batch_norm)
              for i in reversed(range(depth))]
    del model.ups
    model.ups = blocks
    return model
'''),
    ("gaps by a loop over nucleus ids 1..N", '''
def separate_touching(instances):
    out = instances.clone()
    n = int((instances.unique() > 0).sum())  # the number of nuclei
    for k in range(1, n + 1):
        mine = instances == k
        others = (instances > 0) & ~mine
        near = torch.zeros_like(mine)
        near[:, :-1] |= others[:, 1:]
        near[:, 1:] |= others[:, :-1]
        near[:-1, :] |= others[1:, :]
        near[1:, :] |= others[:-1, :]
        out[mine & near] = 0
    return out
'''),
]
MUTANTS += _SECOND_ROUND
