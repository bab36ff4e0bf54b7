"""The pandawms pilot: takes jobs from the server, runs them under resource limits and reports back.

Entry point: ``run_pilot(PilotConfig(...)) -> exit status``; see main.py for the loop and job.py for one job.
"""

from pandawms.pilot.config import PilotConfig
from pandawms.pilot.main import run_pilot

__all__ = ["PilotConfig", "run_pilot"]
