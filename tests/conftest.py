"""Hypothesis profiles, chosen by HYPOTHESIS_PROFILE (dev, ci, thorough).

CI sets CI=true; hypothesis then loads its own derandomized ``ci`` profile,
which we register here with our example budget.
"""

import os

from hypothesis import HealthCheck, settings

_common = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", max_examples=25, **_common)
settings.register_profile("ci", max_examples=30, derandomize=True, print_blob=True, **_common)
settings.register_profile("thorough", max_examples=500, **_common)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))
