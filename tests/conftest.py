import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "layers" / "core"))
sys.path.insert(0, str(ROOT / "infra"))
sys.path.insert(0, str(Path(__file__).resolve().parent / "unit"))
sys.path.insert(0, str(Path(__file__).resolve().parent / "support"))

# Powertools metrics need a namespace; tests never send to AWS.
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "PaygateTest")
os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "tests")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
