"""Process-wide context the handlers share: the clinical parameter set.

The parameter set is read once (default file plus the site override named by the environment
variable GMG_CDS_PARAMETERS_FILE) and cached; `reset()` is for tests that change the variable.
"""

from __future__ import annotations

import os
from functools import lru_cache

from gmg import parameters as gmg_parameters

PARAMETERS_ENV = "GMG_CDS_PARAMETERS_FILE"


@lru_cache(maxsize=1)
def parameters() -> gmg_parameters.Parameters:
    return gmg_parameters.load(os.environ.get(PARAMETERS_ENV) or None)


def reset() -> None:
    parameters.cache_clear()
