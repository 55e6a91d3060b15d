"""The exposure client (an external network) is found among the workload-level entities, where
every external network is too: the same classes as a search over every level, without listing
every pod; a name that is not an external network is still refused."""

from __future__ import annotations

import numpy as np
import pytest

from auditor.commands.pipeline import AnalysisFlags, InputSpec, run_analysis
from auditor.reach.exposure.paths import ExposureSettings, _Judge
from tests.conftest import BANK


def test_client_found_without_the_pod_level() -> None:
    analysis = run_analysis(InputSpec(inputs=(str(BANK / "after"),)), AnalysisFlags())
    judge = _Judge(analysis, ExposureSettings(client="internet"))
    assert "pod" not in analysis._entities
    ent, _ = analysis.find("internet")
    assert np.array_equal(judge.client, np.array(ent.classes, dtype=np.int64))
    with pytest.raises(LookupError, match="is not an external network"):
        _Judge(analysis, ExposureSettings(client="dmz/Deployment/customer"))
