"""The LLM core stays Django-free (DESIGN.md, "Cores without Django")."""
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[4]


def test_llm_core_imports_without_django():
    """Importing every modeling.assist.core module in a fresh interpreter loads no django module."""
    code = (
        "import sys\n"
        "import modeling.assist.core.client, modeling.assist.core.drafting, modeling.assist.core.default_prompts\n"
        "import modeling.assist.core.prompts, modeling.assist.core.validation, modeling.assist.core.template_drafter\n"
        "loaded = sorted(m for m in sys.modules if m == 'django' or m.startswith('django.'))\n"
        "assert not loaded, loaded\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
