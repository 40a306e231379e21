"""Shared fixtures: a tiny random VGG19 (same layer names, few channels), small images."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from gramstyle.nn.backbone import VGG19

TINY_WIDTHS = (4, 6, 8, 8, 8)

# Settings for quick runs on the tiny net, pinned rather than the defaults so tests do
# not move when defaults are retuned; fp32 because `auto` picks bf16 on CPUs with
# native bf16 and the tests compare values.
FAST = dict(
    size=48,
    min_size=24,
    steps=15,
    coarse_steps=10,
    style_weight=1e3,
    init="noise",
    precision="fp32",
)

# The tiny network's ops are far too small to gain from threads, and intra-op threads
# spin badly when another process shares the cores: one thread is 10x faster here.
torch.set_num_threads(1)


def tiny_vgg(seed: int = 0) -> VGG19:
    torch.manual_seed(seed)
    net = VGG19(widths=TINY_WIDTHS)
    # He-style init so activations neither vanish nor explode through 16 convs.
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, torch.nn.Conv2d) and m.kernel_size == (3, 3):
                torch.nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
                m.bias.fill_(0.01)
    return net


@pytest.fixture(scope="session")
def tiny_net() -> VGG19:
    return tiny_vgg()


@pytest.fixture
def images():
    g = torch.Generator().manual_seed(1)
    # A smooth gradient "photo" and a striped "painting", 3:4 aspect.
    yy, xx = torch.meshgrid(torch.linspace(0, 1, 36), torch.linspace(0, 1, 48), indexing="ij")
    content = torch.stack([xx, yy, 1 - xx]).unsqueeze(0)
    style = torch.sin(xx * 30).abs() * 0.8 + 0.1 * torch.rand(36, 48, generator=g)
    style = torch.stack([style, 1 - style, style * 0.5]).unsqueeze(0)
    return content, style


@pytest.fixture(scope="session")
def photos(tmp_path_factory) -> SimpleNamespace:
    """Real pictures that need nothing beside the repository: two photos a dependency
    ships (matplotlib's Grace Hopper, its Jacksboro terrain lit as a landscape) and two
    paintings drawn by code (the demo's swirl, and a second seed of it)."""
    from gramstyle.samples import demo_content, demo_style, terrain

    d = tmp_path_factory.mktemp("photos")
    terrain(512).save(d / "landscape.png")
    demo_style(512).save(d / "swirl.png")
    demo_style(512, seed=3).save(d / "swirl3.png")
    return SimpleNamespace(
        portrait=demo_content(),
        landscape=d / "landscape.png",
        swirl=d / "swirl.png",
        swirl3=d / "swirl3.png",
    )


@pytest.fixture(autouse=True)
def _fresh_sessions():
    """Each test starts with no cached one-call sessions (``session.session_for``), so
    what a test sees computed does not depend on the tests before it."""
    from gramstyle.session import _sessions

    _sessions.clear()
    yield
    _sessions.clear()


@pytest.fixture(scope="session", autouse=True)
def _private_cache(tmp_path_factory):
    """Keep what the library caches on disk (int8 graphs) out of the user's cache."""
    import os

    old = os.environ.get("GRAMSTYLE_CACHE")
    os.environ["GRAMSTYLE_CACHE"] = str(tmp_path_factory.mktemp("cache"))
    yield
    if old is None:
        os.environ.pop("GRAMSTYLE_CACHE", None)
    else:
        os.environ["GRAMSTYLE_CACHE"] = old


#: Debian's Chromium, for the browser tests (``scripts/ensure_chromium.sh`` installs it).
CHROMIUM = "/usr/bin/chromium"


@pytest.fixture
def chromium() -> str:
    """Chromium's path. Missing, it fails the test (``make test`` installs it) unless
    ``GRAMSTYLE_SKIP_BROWSER=1`` says to skip the browser tests."""
    import os

    if os.path.exists(CHROMIUM):
        return CHROMIUM
    if os.environ.get("GRAMSTYLE_SKIP_BROWSER") == "1":
        pytest.skip("GRAMSTYLE_SKIP_BROWSER=1")
    pytest.fail(
        f"{CHROMIUM} is missing: run scripts/ensure_chromium.sh (make test does), "
        "or set GRAMSTYLE_SKIP_BROWSER=1"
    )
