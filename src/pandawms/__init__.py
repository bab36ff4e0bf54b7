"""pandawms: PanDA, the Production ANd Distributed Analysis workload management system, in one package."""

__version__ = "0.1.0"
