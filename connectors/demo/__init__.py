"""Demo source systems: four SQLite databases holding overlapping, noisy copies of one population.

`init_demo` is what `hub demo init` runs; see generate.py.
"""

from connectors.demo.generate import DemoSummary, init_demo

__all__ = ["DemoSummary", "init_demo"]
