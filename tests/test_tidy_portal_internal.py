"""``portal.internal_elements`` keeps its answer on the bundle itself: as long as a parsed version lives (the
runtime keeps one per version, for as long as it runs), its steps are walked once, however many versions were asked
about since; the answer goes with the bundle."""

from __future__ import annotations

import copy
import gc
import weakref

import pytest

from runner import portal
from runner.process_folder import ProcessBundle
from tests.test_queries2_portal_internal import counting_walks


def test_each_bundle_is_walked_once_however_many_versions_are_asked(bundle: ProcessBundle,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    walked = counting_walks(monkeypatch)
    versions = [copy.copy(bundle) for _ in range(40)]  # other parsed versions (same specs here), all alive
    first = portal.internal_elements(bundle)
    assert portal.internal_elements(bundle) is first and len(walked) == 1
    assert "supervise_breach" in first and "approve_high_risk" in first  # the 督办 process; hiddenFromCustomer
    for version in versions:
        assert portal.internal_elements(version) == first
    assert len(walked) == 41  # each version walked on its own
    walked.clear()
    portal.internal_elements(bundle)  # asked long ago, many versions since: still known
    portal.internal_elements(versions[0])
    assert walked == []


def test_the_answer_goes_with_its_bundle(bundle: ProcessBundle, monkeypatch: pytest.MonkeyPatch) -> None:
    counting_walks(monkeypatch)
    version = copy.copy(bundle)
    portal.internal_elements(version)
    gone = weakref.ref(version)
    del version
    gc.collect()
    assert gone() is None  # nothing of the portal keeps a parsed version alive
