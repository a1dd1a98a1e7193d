"""The fusion check of the behaviour tests (tests/fusion_checks.py) rejects the trivial fusers.

Every test that asserts fusion behaviour with :func:`fusion_checks.assert_fuses` (test_fuser, test_model_card,
test_examples, test_explain) would fail if the model were replaced by one of these.
"""

from __future__ import annotations

import pytest
from fusion_checks import IMPOSTORS, assert_fuses, fusion_scores, grey


@pytest.mark.parametrize("pair", ["tno_pair", "roadscene_pair"])
@pytest.mark.parametrize("impostor", sorted(IMPOSTORS))
def test_trivial_fusers_fail_the_fusion_check(impostor, pair, request):
    ir, vis = request.getfixturevalue(pair)
    fake = IMPOSTORS[impostor](grey(ir), grey(vis))
    with pytest.raises(AssertionError):
        assert_fuses(fake, ir, vis)


def test_scores_of_the_trivial_fusers_on_tno_17(tno_pair):
    """The baselines the thresholds rest on (see the module docstring of fusion_checks)."""
    a, b = (grey(x) for x in tno_pair)
    got = {name: fusion_scores(f(a, b), a, b) for name, f in IMPOSTORS.items()}
    assert got["average"]["share"] == pytest.approx(0.5, abs=1e-9)  # by definition
    assert got["visible"] == pytest.approx({"share": 0.0, "detail": 1.0}, abs=1e-9)
    assert got["maximum"]["share"] == pytest.approx(0.86, abs=0.01) and got["maximum"]["detail"] == pytest.approx(0.18, abs=0.01)
