"""The four demo source systems, each with its own schema and formats."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from connectors.demo.flavours import Flavour
from connectors.demo.systems import app, billing, crm, web
from connectors.demo.systems.common import SourceBuild

# Source name (as in hub.yaml) -> builder turning that system's rows of facts into its tables.
BUILDERS: dict[str, Callable[[np.random.Generator, pd.DataFrame, Flavour], SourceBuild]] = {
    "billing": billing.build,
    "web": web.build,
    "app": app.build,
    "crm": crm.build,
}
