"""The sbatch job script of one submission (a single worker or an array of them), rendered from a template.

Pure text: the template is ``string.Template`` text with ``$directives`` (the ``#SBATCH`` lines) and
``$pilot`` (starts the pilot of this array task); everything else in it (module loads, exports) is the
site's. The pilot is exec'ed so it is the batch step itself and gets Slurm's signals first hand.
"""

from __future__ import annotations

import math
import shlex
from collections.abc import Sequence
from string import Template

from pandawms.factory.backends.base import WorkerSpec

DEFAULT_TEMPLATE = "#!/bin/bash\n$directives\n\n$pilot\n"


def time_limit_minutes(walltime: float) -> int:
    """Slurm's --time in whole minutes, rounded up (a queue's max walltime is in seconds)."""
    return max(1, math.ceil(walltime / 60.0))


def directives(args: Sequence[str]) -> str:
    """``#SBATCH`` lines for sbatch arguments (options given on the command line win over them)."""
    return "\n".join(f"#SBATCH {arg}" for arg in args)


def pilot_lines(specs: Sequence[WorkerSpec]) -> str:
    """Shell that runs spec i's pilot in array task i (the only one for a single job), output to its log."""
    branches = []
    for index, spec in enumerate(specs):
        env = "".join(f"export {k}={shlex.quote(v)}\n    " for k, v in sorted((spec.env or {}).items()))
        branches.append(
            f"  {index})\n"
            f"    cd {shlex.quote(str(spec.workdir))} || exit 66\n"
            f"    {env}exec {shlex.join(spec.argv)} >> {shlex.quote(str(spec.log_path))} 2>&1\n"
            "    ;;"
        )
    body = "\n".join(branches)
    return (
        f'case "${{SLURM_ARRAY_TASK_ID:-0}}" in\n{body}\n'
        '  *)\n    echo "no worker for array task $SLURM_ARRAY_TASK_ID" >&2\n    exit 65\n    ;;\nesac'
    )


def render(template: str, sbatch_args: Sequence[str], specs: Sequence[WorkerSpec]) -> str:
    """The job script; ValueError naming the placeholder when the template lacks ``$pilot`` or is bad."""
    if "$pilot" not in template and "${pilot}" not in template:
        raise ValueError("the Slurm job-script template has no $pilot placeholder")
    try:
        return Template(template).substitute(directives=directives(sbatch_args), pilot=pilot_lines(specs))
    except (KeyError, ValueError) as exc:
        raise ValueError(f"bad Slurm job-script template: {exc} (use $$ for a literal $)") from exc
