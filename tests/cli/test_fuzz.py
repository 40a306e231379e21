"""Property-based fuzzing: mutated image files, odd option values, random settings.

Every input must give a valid result or a one-line :class:`GramstyleError`, nothing
else, within ``fuzzing.CASE_SECONDS`` (an alarm fails a hang; hypothesis's deadline
fails a case that is merely very slow). The seed is fixed (``derandomize``) and the
budget small, so these tests take well under a minute; ``scripts/fuzz.py --minutes N``
runs the same checks for longer.
"""

from __future__ import annotations

import datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from . import fuzzing
from .fuzzing import crc_fixed, mutate, ops_strategy

SEEDS = fuzzing.seeds()
CI = settings(
    derandomize=True,
    database=None,
    deadline=datetime.timedelta(seconds=10),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


@pytest.fixture(autouse=True)
def small_pixel_limit():
    with fuzzing.pixel_limit():
        yield


def test_every_seed_is_a_valid_image():
    for name, data in SEEDS.items():
        assert fuzzing.check_decode(data) == "ok", name


@settings(CI, max_examples=250)
@given(name=st.sampled_from(sorted(SEEDS)), ops=ops_strategy(), fix_crc=st.booleans())
def test_mutated_images_decode_or_are_refused(name, ops, fix_crc):
    data = mutate(SEEDS[name], ops)
    with fuzzing.time_limit():
        fuzzing.check_decode(crc_fixed(data) if fix_crc else data)


@settings(CI, max_examples=40)
@given(
    name=st.sampled_from(["png", "jpeg", "tiff-lzw", "gif-animated", "webp"]), ops=ops_strategy(3)
)
def test_mutated_files_load_through_the_cli_path(tmp_path, name, ops):
    with fuzzing.time_limit():
        fuzzing.check_file(mutate(SEEDS[name], ops), tmp_path)


@settings(CI, max_examples=200)
@given(tail=fuzzing.options_strategy())
def test_option_parser_and_settings_accept_or_refuse(tail):
    with fuzzing.time_limit():
        fuzzing.check_options(tail)


@settings(CI, max_examples=300)
@given(kwargs=fuzzing.settings_kwargs_strategy())
def test_settings_accept_or_refuse_any_values(kwargs):
    fuzzing.check_settings(kwargs)


@settings(CI, max_examples=200)
@given(text=st.text(alphabet=st.sampled_from("relu12345_:,.-+eEinfa \x00"), max_size=40))
def test_layer_lists_accept_or_refuse(text):
    fuzzing.check_layers(text)


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "1e309", str(2**64)])
def test_non_finite_and_huge_numbers_are_refused_for_every_float_setting(value):
    import dataclasses

    from gramstyle.settings import Settings

    floats = [f.name for f in dataclasses.fields(Settings) if "bounds" in f.metadata]
    for name in floats:
        if name in ("content_layers", "style_layers"):
            continue
        opt = f"--{name.replace('_', '-')}"
        assert fuzzing.check_options([opt, value]) == "refused", (opt, value)
